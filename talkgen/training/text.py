"""Text-encoder pretraining: the tiny T5 learns to read the synthetic world's captions and prompts.

The tiny preset's text encoder is a 2-layer T5 over UTF-8 bytes. Left at its random initialisation (as the first
talkgen-tiny was), its states carry the prompt's bytes but not "which character has which colour", and the DiT has to
learn that reading from the weak signal of the denoising loss alone. Here, before the DiT sees it, the encoder is
trained with a small supervised head to answer the world's exact attribute questions from the text: for every
``PersonK`` slot its skin, hair, hat, clothes and eye colours and shapes, and for the scene its background and cast
size. The head reads the token states through one attention layer with a learned query per slot, the way the DiT's
cross-attention reads them, so the answers have to be findable in the states. Two dense per-byte tasks speed this
up (a byte-level encoder otherwise learns slowly from 13 labels a text): which attribute word each byte belongs to,
and which ``PersonK`` was named last before it. Only the encoder is exported
(``final/`` is a ``T5EncoderModel`` folder with its tokenizer); the DiT run loads it with ``text_encoder_path``.

Samples need no video and no audio: scene ``data_seed + i`` is drawn (:func:`talkgen.synth.world.make_scene`) and
written either as its caption (the world's MoCha-style sentence) or as the structured prompt ``talkgen generate``
compiles, half each, as the DiT data mixes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from talkgen.synth.characters import (
    ACCESSORIES,
    BACKGROUND_PALETTES,
    CLOTHES,
    COLORS,
    EYE_COLORS,
    HAIR_STYLES,
    HATS,
    HEAD_SHAPES,
    SKIN_TONES,
)
from talkgen.training.config import TrainConfig
from talkgen.training.loop import TrainingTask

_SALT = 0x7E47
_NONE = "none"
# Per character slot: attribute -> its classes ("none": the character has no such part; slot empty: ignored).
CHARACTER_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "skin": tuple(SKIN_TONES),
    "hair_color": (_NONE, *COLORS),
    "hair_style": HAIR_STYLES,
    "hat": tuple(dict.fromkeys(HATS)),
    "hat_color": (_NONE, *COLORS),
    "clothes": CLOTHES,
    "shirt_color": tuple(COLORS),
    "eye_color": EYE_COLORS,
    "head_shape": tuple(HEAD_SHAPES),
    "accessory": ACCESSORIES,
}
# Per scene.
SCENE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "background_color": tuple(dict.fromkeys(p[0] for p in BACKGROUND_PALETTES)),
    "background": ("flat", "gradient", "room"),
    "characters": ("1", "2", "3"),
}
COLOUR_ATTRIBUTES = ("skin", "hair_color", "hat_color", "shirt_color", "background_color")
IGNORE = -100
# Dense per-byte labels (a strong signal for a byte-level encoder): which attribute word a byte is part of, and which
# PersonK was named last before it.
WORDS: tuple[str, ...] = tuple(
    sorted(
        {
            w
            for group in (*CHARACTER_ATTRIBUTES.values(), *SCENE_ATTRIBUTES.values())
            for w in group
            if w not in (_NONE, "1", "2", "3")
        }
        | {"skin", "eyes", "hair", "no hair", "background", "earrings"},
        key=lambda w: (-len(w), w),  # longest first: "top hat" before "hat", "striped shirt" before "shirt"
    )
)
_WORD_PATTERN = re.compile(r"\b(" + "|".join(re.escape(w) for w in WORDS) + r")\b")
_PERSON_PATTERN = re.compile(r"Person([1-9])")


def byte_labels(text: str, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-byte ``(word, person)`` labels of ``text`` as ByT5 tokenizes it (one token per UTF-8 byte), padded or cut
    to ``length`` with ``IGNORE``: ``word`` = 1 + the index in :data:`WORDS` of the attribute word covering the byte
    (0: other text); ``person`` = K of the last ``PersonK`` before it (0: none yet)."""
    data = text.encode("utf-8")
    word = np.zeros(len(data), dtype=np.int64)
    person = np.zeros(len(data), dtype=np.int64)
    for m in _WORD_PATTERN.finditer(text):
        word[len(text[: m.start()].encode()) : len(text[: m.end()].encode())] = 1 + WORDS.index(m.group(1))
    for m in _PERSON_PATTERN.finditer(text):
        person[len(text[: m.start()].encode()) :] = int(m.group(1))
    out_word = np.full(length, IGNORE, dtype=np.int64)
    out_person = np.full(length, IGNORE, dtype=np.int64)
    n = min(length, len(data))
    out_word[:n], out_person[:n] = word[:n], person[:n]
    return out_word, out_person


def _character_labels(character) -> dict[str, str]:
    bald, hatless = character.hair_style == "bald", character.hat == "none"
    return {
        "skin": character.skin,
        "hair_color": _NONE if bald else character.hair_color,
        "hair_style": character.hair_style,
        "hat": character.hat,
        "hat_color": _NONE if hatless else character.hat_color,
        "clothes": character.clothes,
        "shirt_color": character.shirt_color,
        "eye_color": character.eye_color,
        "head_shape": character.head_shape,
        "accessory": character.accessory,
    }


def scene_text(scene, rng: np.random.Generator) -> str:
    """The scene as the DiT sees it: its caption (random shot kinds) or its structured prompt, half each."""
    from talkgen.prompts.compiler import ShotText, compile_prompt, get_template
    from talkgen.synth.world import SHOT_KINDS, caption

    n = len(scene.characters)
    if rng.random() < 0.5:
        kinds = [SHOT_KINDS[int(rng.integers(min(n + 1, len(SHOT_KINDS))))] for _ in range(int(rng.integers(1, 3)))]
        return caption(scene, kinds)
    template = get_template("close_up" if n == 1 else "dialogue_cuts" if scene.mode == "cut" else "group_shot")
    speakers = [scene.tags[i] for i, _ in scene.lines]
    if scene.mode == "cut" or n == 1:
        shots = [ShotText((tag,), (tag,)) for tag in speakers]
    else:
        shots = [ShotText(tuple(scene.tags), tuple(dict.fromkeys(speakers)))]
    shots = [
        ShotText(
            s.visible,
            s.speakers,
            None if (e := scene.expressions[scene.tags.index(s.speakers[0])]) == "neutral" else e,
        )
        for s in shots
    ]
    descriptions = {tag: ch.description for tag, ch in zip(scene.tags, scene.characters, strict=True)}
    setting = f"a {scene.palette[0]} {scene.background} background"
    return compile_prompt(template, shots, descriptions, setting, budget=512).text


def text_sample(config: TrainConfig, index: int) -> dict[str, Any]:
    """Sample ``index``: ``text``, ``character_labels`` (max_characters, A) and ``scene_labels`` (S,)."""
    from talkgen.synth.world import make_scene

    seed = config.data_seed + int(index)
    rng = np.random.default_rng([seed, _SALT])
    scene = make_scene(seed, num_characters=int(rng.integers(1, config.max_characters + 1)))
    labels = np.full((config.max_characters, len(CHARACTER_ATTRIBUTES)), IGNORE, dtype=np.int64)
    for k, character in enumerate(scene.characters):
        named = _character_labels(character)
        labels[k] = [classes.index(named[a]) for a, classes in CHARACTER_ATTRIBUTES.items()]
    named_scene = {
        "background_color": scene.palette[0],
        "background": scene.background,
        "characters": str(len(scene.characters)),
    }
    scene_labels = [classes.index(named_scene[a]) for a, classes in SCENE_ATTRIBUTES.items()]
    text = scene_text(scene, rng)
    word, person = byte_labels(text, config.text_len)
    return {
        "text": text,
        "word_labels": torch.from_numpy(word),
        "person_labels": torch.from_numpy(person),
        "character_labels": torch.from_numpy(labels),
        "scene_labels": torch.tensor(scene_labels, dtype=torch.int64),
    }


def text_batches(
    config: TrainConfig, start_step: int, process_index: int = 0, num_processes: int = 1
) -> Iterator[dict[str, Any]]:
    """Endless batches of :func:`text_sample` from ``start_step`` on (same global indexing as the other tasks)."""
    step = start_step
    while True:
        first = (step * num_processes + process_index) * config.batch_size
        yield _collate([text_sample(config, i) for i in range(first, first + config.batch_size)])
        step += 1


def _collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "text": [s["text"] for s in samples],
        "word_labels": torch.stack([s["word_labels"] for s in samples]),
        "person_labels": torch.stack([s["person_labels"] for s in samples]),
        "character_labels": torch.stack([s["character_labels"] for s in samples]),
        "scene_labels": torch.stack([s["scene_labels"] for s in samples]),
    }


class TextPretrainModule(nn.Module):
    """The T5 encoder, one attention read-out with a learned query per character slot and one for the scene, and a
    linear classifier per attribute."""

    def __init__(self, encoder: nn.Module, max_characters: int) -> None:
        super().__init__()
        dim = encoder.config.d_model
        self.encoder = encoder
        self.queries = nn.Parameter(torch.randn(max_characters + 1, dim) * dim**-0.5)
        self.read = nn.MultiheadAttention(dim, num_heads=4, batch_first=True)
        self.character_heads = nn.ModuleDict({a: nn.Linear(dim, len(c)) for a, c in CHARACTER_ATTRIBUTES.items()})
        self.scene_heads = nn.ModuleDict({a: nn.Linear(dim, len(c)) for a, c in SCENE_ATTRIBUTES.items()})
        self.word_head = nn.Linear(dim, 1 + len(WORDS))
        self.person_head = nn.Linear(dim, 10)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, L) tokens -> attribute logits: character ones (B, max_characters, classes), scene ones (B, classes)."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        queries = self.queries[None].expand(states.shape[0], -1, -1).to(states.dtype)
        read, _ = self.read(queries, states, states, key_padding_mask=~attention_mask.bool(), need_weights=False)
        out = {a: head(read[:, :-1]) for a, head in self.character_heads.items()}
        out.update({a: head(read[:, -1]) for a, head in self.scene_heads.items()})
        out["word"], out["person"] = self.word_head(states), self.person_head(states)
        return out


class TextTask(TrainingTask):
    """Attribute classification from captions and prompts (``task: text``), training the tiny T5 encoder."""

    name = "text"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        from talkgen.models.text_encoder import build_tiny_text_encoder, init_local_attention

        text_cfg = config.component_config("text_encoder")
        if not text_cfg:
            from talkgen.errors import ConfigError

            raise ConfigError(f"preset {config.preset!r} has no built-in text encoder to pretrain")
        torch.manual_seed(config.seed)
        encoder, self.tokenizer = build_tiny_text_encoder(text_cfg)
        init_local_attention(encoder)
        self.module = TextPretrainModule(encoder.train(), config.max_characters)

    def batches(self, start_step: int, process_index: int, num_processes: int) -> Iterator[dict[str, Any]]:
        return text_batches(self.config, start_step, process_index, num_processes)

    def _logits(self, module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        device = next(module.parameters()).device
        # Padded to the batch's longest text only: T5 masks padding, and 512-byte rows cost twice 256-byte ones.
        tokens = self.tokenizer(
            batch["text"], padding="longest", max_length=self.config.text_len, truncation=True, return_tensors="pt"
        )
        return module(tokens.input_ids.to(device), tokens.attention_mask.to(device))

    def _losses(self, logits: dict[str, torch.Tensor], batch: dict[str, Any]) -> tuple[torch.Tensor, dict]:
        device = next(iter(logits.values())).device
        chars, scene = batch["character_labels"].to(device), batch["scene_labels"].to(device)
        losses, accuracy = [], {}
        for k, name in enumerate(CHARACTER_ATTRIBUTES):
            target = chars[..., k]
            losses.append(F.cross_entropy(logits[name].flatten(0, 1).float(), target.flatten(), ignore_index=IGNORE))
            known = target != IGNORE
            accuracy[name] = float((logits[name].argmax(-1)[known] == target[known]).float().mean())
        for k, name in enumerate(SCENE_ATTRIBUTES):
            losses.append(F.cross_entropy(logits[name].float(), scene[:, k]))
            accuracy[name] = float((logits[name].argmax(-1) == scene[:, k]).float().mean())
        attributes = torch.stack(losses).mean()
        dense = []
        for name in ("word", "person"):  # per byte; the batch is padded to its longest text only
            target = batch[f"{name}_labels"][:, : logits[name].shape[1]].to(device)
            dense.append(F.cross_entropy(logits[name].flatten(0, 1).float(), target.flatten(), ignore_index=IGNORE))
            known = target != IGNORE
            accuracy[f"{name}_bytes"] = float((logits[name].argmax(-1)[known] == target[known]).float().mean())
        return attributes + 0.5 * (dense[0] + dense[1]), accuracy

    def loss(self, module, batch: dict[str, Any], generator: torch.Generator):
        loss, accuracy = self._losses(self._logits(module, batch), batch)
        return loss, {"colour_acc": float(np.mean([accuracy[a] for a in COLOUR_ATTRIBUTES]))}

    def validation_data(self) -> dict[str, Any]:
        from talkgen.training.validation import HOLDOUT_OFFSET

        count = max(64, self.config.validation_samples)
        return _collate([text_sample(self.config, HOLDOUT_OFFSET + k) for k in range(count)])

    @torch.no_grad()
    def validate(self, module, batch: dict[str, Any], clip_path: Path | None) -> dict[str, float]:
        """Loss and per-attribute accuracy on held-out scenes (no clip: there is no video)."""
        loss, accuracy = self._losses(self._logits(module, batch), batch)
        out = {"val_loss": float(loss), "val_colour_acc": float(np.mean([accuracy[a] for a in COLOUR_ATTRIBUTES]))}
        out.update({f"val_acc_{name}": value for name, value in accuracy.items()})
        return out

    def export(self, module: nn.Module, directory: Path) -> None:
        module.encoder.eval().save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
