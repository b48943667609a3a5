"""talkgen.models: the talking-character transformer, audio and text encoders, presets and FLOP counts.

Names are imported lazily so that ``import talkgen.models`` does not load diffusers/transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TalkingCharacterTransformer3DModel": "talkgen.models.transformer_talking",
    "TalkingCharacterBlock": "talkgen.models.transformer_talking",
    "SpeechWindowAttnProcessor": "talkgen.models.attention",
    "SpeechWindows": "talkgen.models.attention",
    "speech_windows": "talkgen.models.attention",
    "AudioEncoderMixin": "talkgen.models.audio_encoder",
    "BuiltinAudioEncoder": "talkgen.models.audio_encoder",
    "Wav2Vec2AudioEncoder": "talkgen.models.audio_encoder",
    "WhisperAudioEncoder": "talkgen.models.audio_encoder",
    "build_tiny_text_encoder": "talkgen.models.text_encoder",
    "load_umt5": "talkgen.models.text_encoder",
    "encode_prompts": "talkgen.models.text_encoder",
    "ModelPreset": "talkgen.models.presets",
    "PRESETS": "talkgen.models.presets",
    "get_preset": "talkgen.models.presets",
    "build_transformer": "talkgen.models.presets",
    "build_vae": "talkgen.models.presets",
    "FlopCount": "talkgen.models.flops",
    "transformer_flops": "talkgen.models.flops",
    "video_flops": "talkgen.models.flops",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'talkgen.models' has no attribute {name!r}")
