"""Multi-condition, time-adaptive classifier-free guidance (HuMo).

One step combines three velocity predictions of the same latents::

    v = v(0) + s_txt(sigma) [v(txt) - v(0)] + s_aud(sigma) [v(txt, aud) - v(txt)]

where ``v(0)`` has null text and null audio, ``v(txt)`` the prompt and null audio, ``v(txt, aud)`` both. Written as
a weighted sum of the passes the coefficients are ``c_0 = 1 - s_txt``, ``c_txt = s_txt - s_aud``, ``c_ta = s_aud``;
a pass whose coefficient is zero is not run. So ``audio_scale = 0`` skips the audio pass (text-only CFG),
``text_scale = audio_scale = 0`` leaves only ``v(0)``, ``text_scale = 1`` skips the unconditional pass and
``text_scale = audio_scale = 1`` is plain conditional sampling (one pass).

The scales are schedules over sigma: above ``switch_sigma`` (the first, noisiest steps, where layout and motion
form) the ``early_*`` scales apply (text-dominant by default), at or below it the main scales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from talkgen.errors import ConfigError
from talkgen.pipelines.defaults import GENERATE_GUIDANCE

PASSES = ("uncond", "text", "text_audio")


@dataclass(frozen=True)
class GuidanceConfig:
    """Run-time guidance settings.

    Attributes:
        text_scale: s_txt at sigma <= switch_sigma. audio_scale: s_aud at sigma <= switch_sigma.
        early_text_scale / early_audio_scale: s_txt / s_aud at sigma > switch_sigma (None: the main scale).
        switch_sigma: sigma threshold in [0, 1] between the early and the main phase (1.0: no early phase).
    """

    text_scale: float = 5.0
    audio_scale: float = 4.0
    early_text_scale: float | None = 7.5
    early_audio_scale: float | None = 1.0
    switch_sigma: float = 0.98

    def __post_init__(self) -> None:
        for name in ("text_scale", "audio_scale", "early_text_scale", "early_audio_scale", "switch_sigma"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"guidance {name} must be a finite number, got {value!r}")
            if value < 0:
                raise ConfigError(f"guidance {name} must be >= 0, got {value}")
        if self.switch_sigma > 1:
            raise ConfigError(f"guidance switch_sigma must lie in [0, 1], got {self.switch_sigma}")

    @classmethod
    def default(cls) -> GuidanceConfig:
        """What scene generation uses unless told otherwise (:data:`talkgen.pipelines.defaults.GENERATE_GUIDANCE`)."""
        return cls.constant(*GENERATE_GUIDANCE)

    @classmethod
    def constant(cls, text_scale: float, audio_scale: float) -> GuidanceConfig:
        """Scales that do not change over sigma."""
        return cls(text_scale, audio_scale, None, None, 1.0)

    @classmethod
    def from_dict(cls, data: dict) -> GuidanceConfig:
        """Build from a mapping (e.g. a YAML section); unknown keys raise ``ValueError``."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown guidance settings {sorted(unknown)}")
        return cls(**data)

    def scales(self, sigma: float) -> tuple[float, float]:
        """(s_txt, s_aud) at noise level ``sigma``."""
        if sigma > self.switch_sigma:
            text = self.text_scale if self.early_text_scale is None else self.early_text_scale
            audio = self.audio_scale if self.early_audio_scale is None else self.early_audio_scale
            return float(text), float(audio)
        return float(self.text_scale), float(self.audio_scale)

    def passes(self, sigma: float) -> tuple[str, ...]:
        """The passes (subset of ``PASSES``, in that order) needed at ``sigma``."""
        return needed_passes(*self.scales(sigma))


def guidance_coefficients(text_scale: float, audio_scale: float) -> dict[str, float]:
    """Weights of the ``uncond``, ``text`` and ``text_audio`` predictions in the guided velocity."""
    return {"uncond": 1.0 - text_scale, "text": text_scale - audio_scale, "text_audio": audio_scale}


def needed_passes(text_scale: float, audio_scale: float) -> tuple[str, ...]:
    """Passes with a non-zero coefficient (never empty: the coefficients sum to 1)."""
    return tuple(name for name, c in guidance_coefficients(text_scale, audio_scale).items() if c != 0.0)


def multi_condition_cfg(predictions: dict[str, torch.Tensor], text_scale: float, audio_scale: float) -> torch.Tensor:
    """Guided velocity ``v0 + s_txt (v_txt - v0) + s_aud (v_ta - v_txt)``.

    Args:
        predictions: pass name -> (B, C, F, H, W) velocity; must hold every pass in
            :func:`needed_passes` (others are ignored).
        text_scale: s_txt. audio_scale: s_aud.

    Returns:
        (B, C, F, H, W) guided velocity (computed in float32, returned in the predictions' dtype).
    """
    names = needed_passes(text_scale, audio_scale)
    missing = [name for name in names if name not in predictions]
    if missing:
        raise ValueError(f"guidance with s_txt={text_scale}, s_aud={audio_scale} needs the passes {missing}")
    coeffs = guidance_coefficients(text_scale, audio_scale)
    first = predictions[names[0]]
    out = torch.zeros_like(first, dtype=torch.float32)
    for name in names:
        out = out + coeffs[name] * predictions[name].float()
    return out.to(first.dtype)
