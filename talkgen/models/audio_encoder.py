"""Audio encoders: speech waveforms -> features at the video frame rate, behind one interface.

Every encoder is called as ``encoder(waveform, fps, num_frames)`` with 16 kHz mono audio, either ``(B, N)`` (one
stream per sample) or ``(B, S, N)`` (S character streams), and returns ``(B, num_frames, C)`` or
``(B, S, num_frames, C)`` with ``C = encoder.feature_dim``. The frame rate is always a parameter; the resampling to
it is :func:`talkgen.audio.features.align_to_fps`.

- :class:`BuiltinAudioEncoder`: small trainable conv + transformer over Whisper's log-mel front end (saves and
  loads with ``save_pretrained`` / ``from_pretrained``; no external weights).
- :class:`Wav2Vec2AudioEncoder` / :class:`WhisperAudioEncoder`: transformers models loaded from a LOCAL directory
  only, with the hidden states of several layers averaged (MoCha / MultiTalk style features).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from talkgen import SPEECH_RATE
from talkgen.audio.features import LOG_MEL_RATE, WHISPER_HOP, align_to_fps, log_mel
from talkgen.errors import WeightsError

logger = logging.getLogger(__name__)


class AudioEncoderMixin:
    """The shared interface: ``forward(waveform, fps, num_frames)``; subclasses implement :meth:`encode_batch`."""

    feature_dim: int

    def encode_batch(self, waveform: torch.Tensor, fps: float, num_frames: int) -> torch.Tensor:
        """(B, N) float32 16 kHz waveforms -> (B, num_frames, C) features at ``fps``."""
        raise NotImplementedError

    def forward(self, waveform: torch.Tensor | np.ndarray, fps: float, num_frames: int) -> torch.Tensor:
        """Encode mono 16 kHz speech to features at the video frame rate.

        Args:
            waveform: (B, N) or per-stream (B, S, N) float samples at 16 kHz.
            fps: video frames per second. num_frames: frames to return (audio is padded/cut by alignment).

        Returns:
            (B, num_frames, C) or (B, S, num_frames, C) float tensor on the encoder's device.
        """
        audio = torch.as_tensor(waveform, dtype=torch.float32)
        if audio.ndim not in (2, 3):
            raise ValueError(f"waveform must be (B, N) or (B, streams, N) samples, got {tuple(audio.shape)}")
        if audio.shape[-1] < 2 * WHISPER_HOP:
            raise ValueError(f"waveform has {audio.shape[-1]} samples; expected at least {2 * WHISPER_HOP} at 16 kHz")
        if fps <= 0 or num_frames < 1:
            raise ValueError(f"fps must be > 0 and num_frames >= 1, got fps={fps}, num_frames={num_frames}")
        lead = audio.shape[:-1]
        features = self.encode_batch(audio.reshape(-1, audio.shape[-1]), fps, num_frames)
        return features.reshape(*lead, num_frames, features.shape[-1])


def _sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(length, dim) sine/cosine position table (Transformer's)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freqs = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * freqs)
    table[:, 1::2] = torch.cos(position * freqs[: dim // 2])
    return table


class BuiltinAudioEncoder(AudioEncoderMixin, ModelMixin, ConfigMixin):
    """Trainable encoder: Whisper log-mel (100 Hz) -> 2 convs (to 50 Hz) -> transformer -> align to fps -> linear.

    Args:
        n_mels: mel bins of the log-mel front end (80 or 128). hidden_dim: model width.
        num_layers, num_heads: transformer encoder size. out_dim: feature channels (``feature_dim``).
        context_seconds: the transformer sees at most this much speech at once: longer input is encoded in
            overlapping windows whose middles are kept (a quarter of the window of context on each side), so a
            30 s take gets the features of the short clips the encoder was trained on. 0: the whole input at once.
    """

    @register_to_config
    def __init__(
        self,
        n_mels: int = 80,
        hidden_dim: int = 192,
        num_layers: int = 2,
        num_heads: int = 4,
        out_dim: int = 256,
        context_seconds: float = 3.2,
    ) -> None:
        super().__init__()
        if context_seconds < 0:
            raise ValueError(f"context_seconds must be >= 0 (0: the whole input at once), got {context_seconds}")
        if hidden_dim % num_heads or hidden_dim % 2:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be even and divisible by num_heads ({num_heads})")
        self.feature_dim = out_dim
        self.conv_in = nn.Conv1d(n_mels, hidden_dim, kernel_size=3, padding=1)
        self.conv_down = nn.Conv1d(hidden_dim, hidden_dim, kernel_size=3, stride=2, padding=1)
        layer = nn.TransformerEncoderLayer(
            hidden_dim, num_heads, 4 * hidden_dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_dim)
        self.proj = nn.Linear(hidden_dim, out_dim)

    @property
    def feature_rate(self) -> float:
        """Frames per second of the features before alignment (log-mel rate / 2)."""
        return LOG_MEL_RATE / 2

    def encode_batch(self, waveform: torch.Tensor, fps: float, num_frames: int) -> torch.Tensor:
        """(B, N) 16 kHz -> (B, num_frames, out_dim)."""
        mels = torch.stack([log_mel(w, SPEECH_RATE, self.config.n_mels) for w in waveform.cpu()])  # (B, M, T)
        x = mels.to(device=self.device, dtype=self.dtype)
        x = nn.functional.gelu(self.conv_in(x))
        x = nn.functional.gelu(self.conv_down(x)).transpose(1, 2)  # (B, T/2, hidden)
        x = self._contextual(x)
        x = align_to_fps(x, self.feature_rate, fps, num_frames)
        return self.proj(x)

    def _transformer(self, x: torch.Tensor) -> torch.Tensor:
        x = x + _sinusoidal_positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
        return self.norm(self.encoder(x))

    def _contextual(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, hidden) -> (B, L, hidden) through the transformer, in windows of ``context_seconds`` when longer."""
        length = x.shape[1]
        context = round(self.config.context_seconds * self.feature_rate)
        if context <= 0 or length <= context:
            return self._transformer(x)
        margin = context // 4
        core = context - 2 * margin
        starts = list(range(0, length, core))
        lows = [min(max(start - margin, 0), length - context) for start in starts]
        windows = self._transformer(torch.cat([x[:, lo : lo + context] for lo in lows]))  # (W B, context, hidden)
        windows = windows.reshape(len(lows), x.shape[0], context, -1)
        out = torch.empty_like(x)
        for k, (start, lo) in enumerate(zip(starts, lows, strict=True)):
            stop = min(start + core, length)
            out[:, start:stop] = windows[k, :, start - lo : stop - lo]
        return out


def _check_dir(path: str | Path, kind: str, model_class: str) -> Path:
    folder = Path(path).expanduser()
    layout = (
        f"expected a local {kind} directory with config.json and model.safetensors (a transformers {model_class}"
        " saved with save_pretrained; preprocessor_config.json optional)"
    )
    if not folder.is_dir():
        raise WeightsError(f"{kind} directory {folder} does not exist: {layout}")
    if not (folder / "config.json").is_file():
        raise WeightsError(f"no config.json in {folder}: {layout}")
    if not any(folder.glob("*.safetensors")):
        raise WeightsError(f"no *.safetensors weights in {folder}: {layout}")
    return folder


def _layer_indices(layers: list[int] | tuple[int, ...] | None, num_hidden_layers: int) -> list[int]:
    """Hidden-state indices to average (0 = embeddings, i = after layer i); None = every transformer layer."""
    if layers is None:
        return list(range(1, num_hidden_layers + 1))
    chosen = list(layers)
    if not chosen or any(not 0 <= i <= num_hidden_layers for i in chosen):
        raise ValueError(f"layers must be non-empty indices in [0, {num_hidden_layers}], got {chosen}")
    return chosen


class Wav2Vec2AudioEncoder(AudioEncoderMixin, nn.Module):
    """A transformers ``Wav2Vec2Model`` (local dir) with multi-layer averaged hidden states.

    Args:
        model: the wav2vec 2.0 model. layers: hidden-state indices to average (None = all transformer layers).
        normalize: zero-mean/unit-variance normalisation of each waveform (the feature extractor's ``do_normalize``).
    """

    def __init__(self, model: nn.Module, layers: list[int] | None = None, normalize: bool = True) -> None:
        super().__init__()
        self.model = model.eval()
        self.layers = _layer_indices(layers, model.config.num_hidden_layers)
        self.normalize = normalize
        self.feature_dim = model.config.hidden_size

    @classmethod
    def from_dir(cls, path: str | Path, layers: list[int] | None = None) -> Wav2Vec2AudioEncoder:
        """Load from a local directory (``local_files_only``); a missing dir/file raises ``WeightsError``."""
        from transformers import Wav2Vec2Model

        folder = _check_dir(path, "Wav2Vec2", "Wav2Vec2Model")
        normalize = True
        preprocessor = folder / "preprocessor_config.json"
        if preprocessor.is_file():
            normalize = bool(json.loads(preprocessor.read_text()).get("do_normalize", True))
        try:
            model = Wav2Vec2Model.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"could not load Wav2Vec2 from {folder}: {exc}") from exc
        return cls(model, layers=layers, normalize=normalize)

    @property
    def feature_rate(self) -> float:
        """Frames per second of the hidden states (16 kHz / total conv stride, 50 for the standard model)."""
        return SPEECH_RATE / math.prod(self.model.config.conv_stride)

    def encode_batch(self, waveform: torch.Tensor, fps: float, num_frames: int) -> torch.Tensor:
        """(B, N) 16 kHz -> (B, num_frames, hidden_size)."""
        param = next(self.model.parameters())
        x = waveform.to(device=param.device, dtype=torch.float32)
        if self.normalize:
            x = (x - x.mean(dim=-1, keepdim=True)) / torch.sqrt(x.var(dim=-1, keepdim=True) + 1e-7)
        out = self.model(x.to(param.dtype), output_hidden_states=True)
        hidden = torch.stack([out.hidden_states[i] for i in self.layers]).mean(dim=0)  # (B, T, C)
        return align_to_fps(hidden, self.feature_rate, fps, num_frames)


class WhisperAudioEncoder(AudioEncoderMixin, nn.Module):
    """The encoder of a transformers ``WhisperModel`` (local dir) with multi-layer averaged hidden states.

    Audio is cut into Whisper's fixed windows (``2 * max_source_positions`` log-mel frames, 30 s for real
    checkpoints), encoded, concatenated and cropped to the real length (50 Hz) before alignment.
    """

    def __init__(self, encoder: nn.Module, layers: list[int] | None = None) -> None:
        super().__init__()
        self.encoder = encoder.eval()
        self.layers = _layer_indices(layers, encoder.config.encoder_layers)
        self.feature_dim = encoder.config.d_model
        self.window_frames = 2 * encoder.config.max_source_positions

    @classmethod
    def from_dir(cls, path: str | Path, layers: list[int] | None = None) -> WhisperAudioEncoder:
        """Load the encoder of a local ``WhisperModel`` / ``WhisperForConditionalGeneration`` directory."""
        from transformers import WhisperModel

        folder = _check_dir(path, "Whisper", "WhisperModel")
        try:
            model = WhisperModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"could not load Whisper from {folder}: {exc}") from exc
        return cls(model.get_encoder(), layers=layers)

    @property
    def feature_rate(self) -> float:
        """Frames per second of the encoder states (log-mel rate / 2 = 50)."""
        return LOG_MEL_RATE / 2

    def encode_batch(self, waveform: torch.Tensor, fps: float, num_frames: int) -> torch.Tensor:
        """(B, N) 16 kHz -> (B, num_frames, d_model)."""
        param = next(self.encoder.parameters())
        window_samples = self.window_frames * WHISPER_HOP
        samples = waveform.shape[-1]
        windows = max(1, math.ceil(samples / window_samples))
        padded = torch.nn.functional.pad(waveform.cpu(), (0, windows * window_samples - samples))
        n_mels = self.encoder.config.num_mel_bins
        mels = torch.stack([log_mel(w, SPEECH_RATE, n_mels) for w in padded])  # (B, M, windows * window_frames)
        chunks = mels.unflatten(2, (windows, self.window_frames)).permute(0, 2, 1, 3).flatten(0, 1)
        out = self.encoder(chunks.to(device=param.device, dtype=param.dtype), output_hidden_states=True)
        hidden = torch.stack([out.hidden_states[i] for i in self.layers]).mean(dim=0)  # (B*windows, P, C)
        hidden = hidden.unflatten(0, (waveform.shape[0], windows)).flatten(1, 2)  # (B, windows * P, C)
        valid = max(1, math.ceil(samples / (2 * WHISPER_HOP)))
        return align_to_fps(hidden[:, :valid].float(), self.feature_rate, fps, num_frames)
