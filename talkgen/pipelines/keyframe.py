"""A take's first frame drawn from its prompt (the keyframe), and the best of several draws: the one that reads most
like the prompt's colour words.

A prompt names each visible character once (``Person1: a round-faced character with tan skin, short red hair and
a blue shirt.``, as the world's captions and the prompt compiler write them). :func:`prompt_attributes` reads the
colour words a reader knows from each description: ``<colour> skin``, ``<colour> hair`` (``no hair``: bald), a
``<colour>`` garment and a ``<colour>`` hat. When a take shows one character and its prompt names some of them,
the pipeline draws several first frames and keeps the one its attribute reader
(:class:`~talkgen.models.attribute_reader.AttributeReaderNet`) finds most likely to show them (:func:`best_draws`).
Takes with two or three characters, and prompts that name no colour the reader knows, draw once.
"""

from __future__ import annotations

import re

import torch

from talkgen.models.attribute_reader import NONE
from talkgen.pipelines.defaults import KEYFRAME_STEPS, KEYFRAME_TEXT_SCALE
from talkgen.pipelines.guidance import multi_condition_cfg, needed_passes

OTHER_DRAWS_SEED = 0x6B6579  # offset of the generator seed the extra keyframe draws take theirs from
_PERSON = re.compile(r"\bPerson\d+:\s*([^.]*)")
_GARMENTS = r"(?:striped\s+)?(?:t-shirt|shirt|jacket|dress|coat|hoodie|sweater|jumper|top(?!\s+hat)|blouse)"
_HATS = r"(?:top\s+hat|hat|beanie|cap)"
# Everyday words for colours the world names otherwise (used only where the reader knows the world's word).
SYNONYMS = {
    "gray": "grey", "silver": "grey", "navy": "blue", "blond": "yellow", "blonde": "yellow", "golden": "yellow",
    "ginger": "orange", "violet": "purple", "crimson": "red", "scarlet": "red",
}  # fmt: skip


def _word_before(pattern: str, text: str, names: list[str]) -> str | None:
    """The first known name right before ``pattern`` in ``text`` (a style word may sit between: spiky red hair)."""
    for match in re.finditer(rf"\b([a-z]+)\s+(?:[a-z]+\s+)?{pattern}\b", text):
        for word in match.group(0).split():
            word = SYNONYMS.get(word, word)
            if word in names:
                return word
    return None


def describe(text: str, vocabulary: dict[str, list[str]]) -> dict[str, str]:
    """The colour words of one character description that ``vocabulary`` (:meth:`AttributeReaderNet.vocabulary`)
    knows, everyday ones (:data:`SYNONYMS`) read as the world's: ``{part: name}`` for the parts it names (none of
    them for a description without colours)."""
    text = text.lower()
    found = {
        "skin": _word_before("skin", text, vocabulary["skin"]),
        "hair": NONE if re.search(r"\bno\s+hair\b|\bbald\b", text) else _word_before("hair", text, vocabulary["hair"]),
        "shirt": _word_before(_GARMENTS, text, vocabulary["shirt"]),
        "hat": _word_before(_HATS, text, vocabulary["hat"]),
    }
    return {part: name for part, name in found.items() if name is not None}


def prompt_attributes(prompt: str, vocabulary: dict[str, list[str]]) -> list[dict[str, str]]:
    """One :func:`describe` per ``PersonN:`` description of ``prompt``, in order (empty: the prompt describes no
    one that way)."""
    return [describe(text, vocabulary) for text in _PERSON.findall(prompt)]


def wanted_attributes(prompt: str, vocabulary: dict[str, list[str]]) -> dict[str, str]:
    """The colour words to pick a take's first frame by: those of its one described character, with ``hat: none``
    when the description names colours but no hat (a hat nobody asked for hides the hair). Empty when the prompt
    describes no one, two or more (a whole-frame reader cannot tell whose colours it sees), or no colour."""
    people = prompt_attributes(prompt, vocabulary)
    if len(people) != 1 or not people[0]:
        return {}
    words = dict(people[0])
    if NONE in vocabulary["hat"]:
        words.setdefault("hat", NONE)
    return words


def best_draws(reader, images: torch.Tensor, wanted: list[dict[str, str]], draws: int) -> torch.Tensor:
    """Index of the draw to keep for each prompt.

    Args:
        reader: an :class:`~talkgen.models.attribute_reader.AttributeReaderNet`.
        images: (B * draws, 3, H, W) decoded first frames in [-1, 1], prompt-major (prompt b's draws at
            ``b * draws ... b * draws + draws - 1``).
        wanted: B dicts of colour words (:func:`wanted_attributes`); an empty one keeps draw 0.
        draws: first frames drawn per prompt.

    Returns:
        (B,) int64 draw indices.
    """
    if images.shape[0] != len(wanted) * draws:
        raise ValueError(f"{images.shape[0]} images for {len(wanted)} prompts x {draws} draws")
    picks = torch.zeros(len(wanted), dtype=torch.int64)
    for b, words in enumerate(wanted):
        if words:
            picks[b] = int(reader.agreement(images[b * draws : (b + 1) * draws], words).argmax())
    return picks


def check_draws(draws: int) -> int:
    """``keyframe_draws`` as an int, or a ``ValueError`` naming it."""
    if int(draws) != draws or draws < 1:
        raise ValueError(f"keyframe_draws must be a whole number >= 1 (1: one draw, no picking), got {draws}")
    return int(draws)


class KeyframeMixin:
    """The keyframe methods of :class:`~talkgen.pipelines.pipeline_talking.TalkingCharacterPipeline` (which holds
    the ``keyframe_transformer``, ``attribute_reader``, ``scheduler`` and ``config`` they use)."""

    def draws_keyframe(self, image: object | None, keyframe: bool = True) -> bool:
        """Whether a call with this ``image`` and ``keyframe`` draws its reference first frame from the prompt."""
        return image is None and keyframe and self.keyframe_transformer is not None

    @torch.no_grad()
    def draw_keyframe(
        self,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor,
        height: int,
        width: int,
        num_inference_steps: int = KEYFRAME_STEPS,
        text_scale: float = KEYFRAME_TEXT_SCALE,
        generator: torch.Generator | None = None,
        draws: int = 1,
        wanted: list[dict[str, str]] | None = None,
    ) -> torch.Tensor:
        """(B, C, 1, h, w) first-frame latents drawn from the prompts by ``keyframe_transformer`` with text
        guidance at ``text_scale`` (1: unguided, one pass per step; no speech), in the form :meth:`encode_image`
        gives a reference. With ``draws`` > 1, an ``attribute_reader`` and ``wanted`` colour words for some prompt
        (B dicts, :func:`wanted_attributes`), each prompt draws ``draws`` frames
        in one batch and keeps the one the reader finds most like its words (:func:`best_draws`). Draw 0 is the one
        a single draw gives and leaves ``generator`` as a single draw does (the others come from a generator seeded
        ``generator.initial_seed() + OTHER_DRAWS_SEED``): a take whose pick is draw 0 is the take without picking."""
        model = self.keyframe_transformer
        device = prompt_embeds.device
        batch = prompt_embeds.shape[0]
        if check_draws(draws) == 1 or self.attribute_reader is None or not wanted or not any(wanted):
            draws = 1
        names = needed_passes(text_scale, 0.0)  # no speech: never the text_audio pass
        embeds = {"uncond": negative_prompt_embeds, "text": prompt_embeds}
        text = torch.cat([embeds[name].repeat_interleave(draws, dim=0) for name in names]).to(model.dtype)
        latents = self.prepare_latents(batch, 1, height, width, device, generator)  # draw 0: as without picking
        if draws > 1:  # the others from their own generator, so the take's noise after this is as without picking
            others = None
            if isinstance(generator, torch.Generator):
                others = torch.Generator(generator.device).manual_seed(generator.initial_seed() + OTHER_DRAWS_SEED)
            extra = self.prepare_latents(batch * (draws - 1), 1, height, width, device, others)
            latents = torch.cat([latents[:, None], extra.unflatten(0, (batch, draws - 1))], dim=1).flatten(0, 1)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        for t in self.scheduler.timesteps:
            velocity = model(
                hidden_states=latents.to(model.dtype).repeat(len(names), 1, 1, 1, 1),
                timestep=t.reshape(1).to(device).expand(text.shape[0]),
                encoder_hidden_states=text,
                return_dict=False,
            )[0].float()
            guided = multi_condition_cfg(dict(zip(names, velocity.chunk(len(names)), strict=True)), text_scale, 0.0)
            latents = self.scheduler.step(guided, t, latents, return_dict=False)[0]
        if draws > 1:
            images = self.decode_video(latents)[:, :, 0].float().clamp(-1, 1)
            picks = best_draws(self.attribute_reader, images, wanted, draws)
            latents = latents.unflatten(0, (batch, draws))[torch.arange(batch), picks.to(device)]
        return latents.to(self.transformer.dtype)

    def pick_keyframe(
        self,
        prompts: list[str],
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor,
        height: int,
        width: int,
        num_inference_steps: int = KEYFRAME_STEPS,
        text_scale: float = KEYFRAME_TEXT_SCALE,
        generator: torch.Generator | None = None,
        keyframe_draws: int | None = None,
    ) -> torch.Tensor:
        """:meth:`draw_keyframe` as a pipeline call draws a take's first frame: ``keyframe_draws`` resolved
        (:meth:`resolved_keyframe_draws`) and each of the B ``prompts``' colour words read for the pick."""
        draws = self.resolved_keyframe_draws(keyframe_draws)
        wanted = None
        if draws > 1:
            wanted = [wanted_attributes(prompt, self.attribute_reader.vocabulary()) for prompt in prompts]
        return self.draw_keyframe(
            prompt_embeds, negative_prompt_embeds, height, width, num_inference_steps, text_scale, generator, draws,
            wanted,
        )  # fmt: skip

    def resolved_keyframe_draws(self, keyframe_draws: int | None = None) -> int:
        """First frames a take draws to pick from: ``keyframe_draws``, else the model's ``config.keyframe_draws``,
        else 1 (also 1 without an ``attribute_reader``: nothing to pick with)."""
        draws = self.config.get("keyframe_draws") if keyframe_draws is None else keyframe_draws
        draws = check_draws(1 if draws is None else draws)
        return draws if self.attribute_reader is not None else 1
