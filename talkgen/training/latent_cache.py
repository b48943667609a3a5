"""Pre-encoded DiT training data: whole synthetic clips encoded once by the frozen VAE and audio encoder.

Encoding a clip costs more than a DiT step on the CPU, so a DiT run with ``latent_cache: DIR`` encodes
``latent_cache_clips`` clips once (resumable chunk by chunk) and then trains on windows of them for many epochs.

Clip ``i`` is scene seed ``data_seed + i`` performed in full (lead-in silence, every line), cut to at most
``latent_cache_max_frames`` video frames (4 k + 1), rendered at ``size``, and stored as:

- ``latents`` (C, F, h, w) float16 normalised VAE latents of the whole clip (one causal sequence, as generation makes);
- ``reference`` (C, 1, h, w): the latent of frame 0 alone (the identity reference an image gives at inference);
- ``source`` (C, F, h, w) for edit clips (``edit_share``): the original performance, while ``latents`` and the
  audio are the same performance re-spoken (mask-free lip-sync pairs);
- ``audio`` (S, T, D) float16 features of each character's speech from the frozen audio encoder, computed over
  the whole clip as the pipeline does (S = ``max_characters``, silent streams for absent characters);
- ``mouth`` (1, F, h, w) uint8: latent cells that cover a mouth box (:mod:`talkgen.training.weighting`);
- two captions in the chunk's JSON: the world's caption and the same clip as the scene compiler prompts it
  (:func:`structured_prompt`), drawn half and half per sample so both phrasings condition the model.

A training sample is a window of ``(num_frames - 1) / 4 + 1`` latent frames starting at latent ``s`` (drawn per
sample index) with the audio features of video frames ``4 s .. 4 (s + W - 1)``, exactly as the pipeline slices a
long take into windows; with ``num_frames: 1`` (a keyframe run) it is the clip's first frame alone (``reference``),
with no source. With ``latent_cache_stills`` (keyframe runs) each clip is stored as its first frame alone
(``reference``, its speech features and mouth cells; captions of the whole clip as above): rendering one frame
instead of the clip makes a cache of tens of thousands of first frames affordable. Files: ``meta.json`` (what the
cache was built from) and ``chunk-NNNNN.safetensors`` +
``chunk-NNNNN.json`` (captions), each written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError
from talkgen.training.config import TrainConfig

logger = logging.getLogger(__name__)

CHUNK_SIZE = 32
META_FILE = "meta.json"
_WINDOW_SALT = 0x1A7E
_EPOCH_SALT = 0xCAC4E
_SILENT_SALT = 0x5113
_EXTRA_SALT = 0xE7A
PROMPT_SHARE = 0.5  # share of samples captioned as the scene compiler prompts (the rest: the world's caption)
_META_KEYS = ("size", "fps", "max_characters", "data_seed", "edit_share", "latent_cache_max_frames")


def cache_meta(config: TrainConfig, encoders_id: str) -> dict[str, Any]:
    """What a cache depends on: the world's settings and the frozen encoders' weights (``encoders_id``)."""
    meta = {key: getattr(config, key) for key in _META_KEYS}
    if config.silent_edit_share > 0:  # recorded only when used: caches built before it stay valid
        meta["silent_edit_share"] = config.silent_edit_share
    if config.latent_cache_stills:
        meta["stills"] = True
    if config.head_motion != 1.0:
        meta["head_motion"] = config.head_motion
    meta["encoders"] = encoders_id
    return meta


def weights_id(*modules: torch.nn.Module) -> str:
    """A short hash of the modules' parameters and buffers (the identity of frozen encoders)."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def render_full_clip(config: TrainConfig, index: int) -> dict[str, Any]:
    """Clip ``index`` of the cache: video (3, T, H, W) in [-1, 1], speech streams, mouth boxes, caption, edit source.

    Edit clips (drawn as the live world draws them, :func:`talkgen.training.data.is_edit_sample`) return the
    re-spoken performance as ``video`` / ``audio_streams`` and the original as ``source_video``; with
    ``silent_edit_share`` that share of them silence one character who speaks in the original.
    """
    from talkgen.synth.dataset import _other_texts
    from talkgen.synth.world import make_scene, perform, redub, render_performance, silence_character, speak_lines
    from talkgen.training.data import is_edit_sample

    seed = config.data_seed + int(index)
    rng = np.random.default_rng([seed, 0xDA7A])
    scene = make_scene(seed, num_characters=int(rng.integers(1, config.max_characters + 1)))
    speeches = speak_lines(scene, SPEECH_RATE)
    natural = perform(scene, speeches, config.fps).num_frames
    frames = 4 * ((min(natural, config.latent_cache_max_frames) - 1) // 4) + 1
    perf = perform(scene, speeches, config.fps, frames, config.head_motion)
    if config.latent_cache_stills:  # the clip's first frame alone, captioned as the whole clip is
        return _clip_dict(config, scene, perf, render_performance(scene, perf.head(1), config.size), None, seed)
    edit = is_edit_sample(config, index)
    source_video = None
    if edit:
        source_video = _video(render_performance(scene, perf, config.size))
        speeches = speak_lines(scene, SPEECH_RATE, _other_texts(scene, rng))
        silent = np.random.default_rng([seed, _SILENT_SALT])  # its own stream: other clips stay as they were
        speakers = np.flatnonzero(perf.speaking.any(axis=1))
        if len(speakers) and silent.random() < config.silent_edit_share:
            speeches = silence_character(scene, speeches, int(silent.choice(speakers)))
        perf = redub(scene, perf, speeches)
    return _clip_dict(config, scene, perf, render_performance(scene, perf, config.size), source_video, seed)


def _clip_dict(config: TrainConfig, scene, perf, clip, source_video: torch.Tensor | None, seed: int) -> dict[str, Any]:
    """A cache clip from its rendered ``clip`` (all of ``perf``, or its first frame for stills): the video, mouth
    boxes and speech of what was drawn, captions and speech streams of the whole performance."""
    from talkgen.synth.world import caption

    c = config.max_characters
    streams = np.zeros((c, math.ceil(perf.num_frames / config.fps * SPEECH_RATE) + 1), dtype=np.float32)
    piece = perf.audio[:c, : streams.shape[1]]
    streams[: piece.shape[0], : piece.shape[1]] = piece
    boxes = np.full((c, clip.truth.num_frames, 4), np.nan, dtype=np.float32)
    for k, character in enumerate(clip.truth.characters[:c]):
        boxes[k] = character.mouth_box
    return {
        "video": _video(clip),
        "prompt": structured_prompt(scene, perf.shots, perf.speaking),
        "source_video": source_video,
        "audio_streams": torch.from_numpy(streams),
        "audio_frames": perf.num_frames,
        "mouth_box": torch.from_numpy(boxes),
        "caption": caption(scene, [s.kind for s in perf.shots]),
        "seed": seed,
    }


def structured_prompt(scene, shots, speaking: np.ndarray) -> str:
    """The clip described as ``talkgen generate`` prompts a clip: the scene compiler's template, one clip per shot.

    ``shots`` (:class:`~talkgen.synth.truth.ShotTruth` list) and ``speaking`` (C, T) bool flags of the performance
    give the shots and speakers; each shot's expression is its first speaker's (unless neutral); the setting names
    the background.
    """
    from talkgen.prompts.compiler import ShotText, compile_prompt, get_template

    n = len(scene.characters)
    template = get_template("close_up" if n == 1 else "dialogue_cuts" if scene.mode == "cut" else "group_shot")
    texts = []
    for shot in shots:
        during = slice(shot.start_frame, shot.end_frame)
        speakers = tuple(tag for tag, flags in zip(scene.tags, speaking, strict=True) if bool(flags[during].any()))
        first = next((k for k, tag in enumerate(scene.tags) if tag in speakers), None)
        expression = None if first is None else scene.expressions[first]
        texts.append(ShotText(tuple(shot.visible), speakers, None if expression == "neutral" else expression))
    descriptions = {tag: ch.description for tag, ch in zip(scene.tags, scene.characters, strict=True)}
    setting = f"a {scene.palette[0]} {scene.background} background"
    return compile_prompt(template, texts, descriptions, setting, budget=512).text


def _video(clip) -> torch.Tensor:
    return clip.frames.permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


def build_latent_cache(
    config: TrainConfig,
    encode_video: Callable[[torch.Tensor], torch.Tensor],
    encode_audio: Callable[[torch.Tensor, int], torch.Tensor],
    encoders_id: str,
    progress: bool = False,
) -> Path:
    """Write the missing chunks of ``config.latent_cache`` (resumable; existing chunks are kept).

    Args:
        encode_video: (1, 3, T, H, W) in [-1, 1] -> (1, C, F, h, w) normalised latents.
        encode_audio: ((S, N) speech, num_frames) -> (S, num_frames, D) features.
        encoders_id: identity of the frozen encoders (:func:`weights_id`); a cache built with others is refused.

    Raises:
        ConfigError: the folder holds a cache built from other settings or encoders.
    """
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from talkgen.fs import atomic_path, write_json
    from talkgen.models.latents import latent_mouth_mask, mouth_mask

    root = Path(config.latent_cache)
    meta = cache_meta(config, encoders_id)
    _check_meta(root, meta)
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / META_FILE, meta)
    chunks = math.ceil(config.latent_cache_clips / CHUNK_SIZE)
    missing = [k for k in range(chunks) if not (root / f"chunk-{k:05d}.json").is_file()]
    bar = tqdm(total=len(missing) * CHUNK_SIZE, desc="encode clips", unit="clip", disable=not progress)
    for k in missing:
        tensors: dict[str, torch.Tensor] = {}
        captions = []
        first = k * CHUNK_SIZE
        for i in range(first, min(first + CHUNK_SIZE, config.latent_cache_clips)):
            clip = render_full_clip(config, i)
            key = f"{i - first:03d}"
            with torch.no_grad():
                reference = encode_video(clip["video"][None, :, :1])[0]
                tensors[f"{key}.reference"] = reference.to(torch.float16).contiguous()
                latents = reference
                if clip["video"].shape[1] > 1:  # a still's latents are its reference: stored once
                    latents = encode_video(clip["video"][None])[0]
                    tensors[f"{key}.latents"] = latents.to(torch.float16).contiguous()
                if clip["source_video"] is not None:
                    source = encode_video(clip["source_video"][None])[0]
                    tensors[f"{key}.source"] = source.to(torch.float16).contiguous()
                frames = clip["video"].shape[1]  # speech encoded over the whole performance, as the pipeline does
                features = encode_audio(clip["audio_streams"], clip["audio_frames"])[:, :frames]
                tensors[f"{key}.audio"] = features.to(torch.float16).contiguous()
            mask = mouth_mask(clip["mouth_box"][None], config.size, config.size, config.mouth_margin)
            spatial = config.size // latents.shape[-1]
            tensors[f"{key}.mouth"] = latent_mouth_mask(mask, 4, spatial)[0].to(torch.uint8).contiguous()
            captions.append({"caption": clip["caption"], "prompt": clip["prompt"], "seed": clip["seed"]})
            bar.update(1)
        with atomic_path(root / f"chunk-{k:05d}.safetensors") as tmp:
            save_file(tensors, str(tmp))
        write_json(root / f"chunk-{k:05d}.json", captions)  # written last: marks the chunk complete
    bar.close()
    return root


def _check_meta(root: Path, meta: dict[str, Any]) -> None:
    path = root / META_FILE
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        old = None
    if old != json.loads(json.dumps(meta)):
        raise ConfigError(
            f"latent cache {root} was built from other settings or encoders ({old} != {meta}); use another "
            "latent_cache folder or delete this one"
        )


class LatentCache:
    """The clips of a complete cache, in memory, addressed by global sample index (epochs of fresh permutations).

    Raises:
        ConfigError: the folder is missing chunks (build it first) or was built from other settings.
    """

    def __init__(self, config: TrainConfig, encoders_id: str | None = None) -> None:
        from safetensors.torch import load_file

        self.config = config
        root = Path(config.latent_cache)
        if encoders_id is not None:
            _check_meta(root, cache_meta(config, encoders_id))
        self.window = (config.num_frames - 1) // 4 + 1
        self.clips: list[dict[str, Any]] = []
        for k in range(math.ceil(config.latent_cache_clips / CHUNK_SIZE)):
            names = root / f"chunk-{k:05d}.json"
            if not names.is_file():
                raise ConfigError(
                    f"latent cache {root} lacks chunk {k}; `talkgen train dit` builds it when latent_cache is set"
                )
            tensors = load_file(str(root / f"chunk-{k:05d}.safetensors"))
            for j, row in enumerate(json.loads(names.read_text(encoding="utf-8"))):
                key = f"{j:03d}"
                captions = (row["caption"], row.get("prompt") or row["caption"])
                clip = {"captions": captions, "source": tensors.get(f"{key}.source")}
                for name in ("reference", "audio", "mouth"):
                    clip[name] = tensors[f"{key}.{name}"]
                clip["latents"] = tensors.get(f"{key}.latents", clip["reference"])  # stills: the reference alone
                if clip["latents"].shape[1] >= self.window:
                    self.clips.extend([clip] * (config.edit_repeat if clip["source"] is not None else 1))
        if not self.clips:
            raise ConfigError(f"latent cache {root} has no clip of {self.window} latent frames")

    def __len__(self) -> int:
        return len(self.clips)

    def articulation_basis(self, components: int) -> torch.Tensor:
        """(C, components) latent directions the lips move in, from this cache's edit pairs
        (:func:`articulation_basis`)."""
        unique = {id(c): c for c in self.clips}.values()  # each clip once (edit_repeat lists edits again)
        return articulation_basis(unique, components, str(self.config.latent_cache))

    def sample(self, index: int) -> dict[str, Any]:
        """Global sample ``index``: a window of one clip (latents, reference, source, audio features, mouth mask)."""
        n = len(self.clips)
        epoch, position = divmod(int(index), n)
        clip = self.clips[int(_permutation(self.config.data_seed, epoch, n)[position])]
        rng = np.random.default_rng([self.config.data_seed, int(index), _WINDOW_SALT])
        w = self.window
        if w == 1:  # a keyframe run (num_frames: 1): the clip's first frame alone, the still a shot starts from
            return {
                "latents": clip["reference"].float(),
                "reference_latents": clip["reference"].float(),
                "source_latents": None,
                "audio_features": clip["audio"][:, :1].float(),
                "mouth_mask": clip["mouth"][:, :1].float(),
                "caption": clip["captions"][int(rng.random() < PROMPT_SHARE)],
            }
        start = int(rng.integers(0, clip["latents"].shape[1] - w + 1))
        frames = slice(4 * start, 4 * (start + w - 1) + 1)
        sample = {
            "latents": clip["latents"][:, start : start + w].float(),
            "reference_latents": clip["reference"].float(),
            "source_latents": None if clip["source"] is None else clip["source"][:, start : start + w].float(),
            "audio_features": clip["audio"][:, frames].float(),
            "mouth_mask": clip["mouth"][:, start : start + w].float(),
            "caption": clip["captions"][int(rng.random() < PROMPT_SHARE)],
        }
        return crop_to_mouth(sample, self.config.mouth_crop, rng) if self.config.mouth_crop else sample


def crop_to_mouth(sample: dict[str, Any], cells: int, rng: np.random.Generator) -> dict[str, Any]:
    """``sample``'s spatial tensors cropped to a ``cells`` x ``cells`` square (even offsets, so the transformer's
    2 x 2 patches fall as on whole frames) centred as near as the frame allows on one mouth cell of the window,
    drawn by ``rng``; a window without mouths is cropped at its centre."""
    h, w = sample["latents"].shape[-2:]
    size = min(cells, h, w)
    hits = np.argwhere(sample["mouth_mask"].amax(dim=(0, 1)).numpy() > 0)
    row, col = hits[int(rng.integers(len(hits)))] if len(hits) else (h // 2, w // 2)
    top = int(np.clip(row - size // 2, 0, h - size)) // 2 * 2
    left = int(np.clip(col - size // 2, 0, w - size)) // 2 * 2
    out = dict(sample)
    for name in ("latents", "reference_latents", "source_latents", "mouth_mask"):
        if out[name] is not None:
            out[name] = out[name][..., top : top + size, left : left + size]
    return out


def edit_mouth_difference(clip: dict[str, Any]) -> torch.Tensor | None:
    """(C, n) float64 an edit clip's latents minus its source's on its n mouth cells of latent frames >= 1 (the lips
    alone: the pair shares identity, motion and shots), or None for a clip that is not an edit."""
    if clip["source"] is None:
        return None
    cells = clip["mouth"][0, 1:] > 0  # (F - 1, h, w)
    return (clip["latents"][:, 1:].double() - clip["source"][:, 1:].double())[:, cells]


def articulation_basis(clips, components: int, name: str = "the latent cache") -> torch.Tensor:
    """(C, components) orthonormal latent directions the lips move in, from exact edit pairs.

    An edit clip and its source share identity, motion and shots and differ only in their mouths, so their
    latents' difference on the mouth cells (latent frames >= 1) is articulation alone; its principal directions
    (the eigenvectors of its second moment, largest first, each signed to a positive sum) span what the lips change.

    Args:
        clips: cache clips (``latents``, ``source`` (None for non-edits), ``mouth`` as stored). name: for errors.

    Raises:
        ConfigError: no edit clip with a visible mouth, or ``components`` outside 1..C.
    """
    moment, count = None, 0
    for clip in clips:
        diff = edit_mouth_difference(clip)
        if diff is None:
            continue
        moment = diff @ diff.T if moment is None else moment + diff @ diff.T
        count += diff.shape[1]
    if moment is None or count == 0:
        raise ConfigError(
            f"{name} has no edit clip with a mouth in view: articulation_weight needs edit pairs (a cache built"
            " with edit_share > 0)"
        )
    if not 1 <= components <= moment.shape[0]:
        raise ConfigError(f"articulation_components must be 1..{moment.shape[0]}, got {components}")
    _, vectors = torch.linalg.eigh(moment / count)  # ascending eigenvalues
    basis = vectors.flip(1)[:, :components]
    return (basis * torch.where(basis.sum(0) < 0, -1.0, 1.0)).float()


@lru_cache(maxsize=8)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, _EPOCH_SALT]).permutation(n)


def collate_latents(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack cache samples: ``latents``, ``reference_latents``, ``source_latents`` (zeros unless ``edit``),
    ``edit`` (B,) bool, ``audio_features`` (B, S, T, D), ``mouth_mask`` (B, 1, F, h, w), ``caption`` list."""
    latents = torch.stack([s["latents"] for s in samples])
    source = torch.zeros_like(latents)
    edit = torch.zeros(len(samples), dtype=torch.bool)
    for i, s in enumerate(samples):
        if s["source_latents"] is not None:
            source[i], edit[i] = s["source_latents"], True
    return {
        "latents": latents,
        "reference_latents": torch.stack([s["reference_latents"] for s in samples]),
        "source_latents": source,
        "edit": edit,
        "audio_features": torch.stack([s["audio_features"] for s in samples]),
        "mouth_mask": torch.stack([s["mouth_mask"] for s in samples]),
        "caption": [s["caption"] for s in samples],
    }


class MixedLatentCache:
    """The main cache, with ``latent_cache_extra_share`` of the samples drawn from ``latent_cache_extra`` instead
    (a pure function of ``data_seed`` and the sample index, so runs resume exactly).

    The extra cache is read with its own world settings (its ``meta.json``); size, fps, characters and the frozen
    encoders must be the main cache's.

    Raises:
        ConfigError: the extra folder is not a complete cache, or was built at other settings or encoders.
    """

    def __init__(self, config: TrainConfig, encoders_id: str | None = None) -> None:
        from dataclasses import replace

        self.config = config
        self.main = LatentCache(config, encoders_id)
        root = Path(config.latent_cache_extra)
        try:
            meta = json.loads((root / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConfigError(
                f"latent_cache_extra {root} is not a built latent cache (no readable {META_FILE}); build it with a"
                " DiT run whose latent_cache is that folder"
            ) from None
        for key in ("size", "fps", "max_characters"):
            if meta.get(key) != getattr(config, key):
                raise ConfigError(
                    f"latent_cache_extra {root} was built at {key} {meta.get(key)}, this run trains at"
                    f" {getattr(config, key)}; build it at the run's settings"
                )
        chunks = len(list(root.glob("chunk-*.json")))
        extra = replace(
            config,
            latent_cache=str(root),
            latent_cache_clips=max(1, chunks) * CHUNK_SIZE,
            data_seed=meta["data_seed"],
            edit_share=meta["edit_share"],
            latent_cache_max_frames=meta["latent_cache_max_frames"],
            silent_edit_share=meta.get("silent_edit_share", 0.0),
            head_motion=meta.get("head_motion", 1.0),
            latent_cache_extra=None,
            latent_cache_extra_share=0.0,
        )
        self.extra = LatentCache(extra, encoders_id)

    def __len__(self) -> int:
        return len(self.main) + len(self.extra)

    def sample(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.config.data_seed, int(index), _EXTRA_SALT])
        source = self.extra if rng.random() < self.config.latent_cache_extra_share else self.main
        return source.sample(index)


def cached_batches(
    config: TrainConfig,
    cache: LatentCache | MixedLatentCache,
    start_step: int,
    process_index: int = 0,
    num_processes: int = 1,
) -> Iterator[dict[str, Any]]:
    """Endless batches of cache windows from ``start_step`` on (same global indexing as the other sources)."""
    step = start_step
    while True:
        first = (step * num_processes + process_index) * config.batch_size
        yield collate_latents([cache.sample(i) for i in range(first, first + config.batch_size)])
        step += 1
