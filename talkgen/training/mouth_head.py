"""Fit the mouth head (:class:`~talkgen.models.mouth_head.SpeechMouthHead`) of a model.

The synthetic world speaks scenes (espeak-ng; no rendering) and performs them, so every video frame of every
character's speech stream has its exact jaw opening. The model's frozen audio encoder turns each stream into features;
the head reads the jaw from a frame's features and its ``context`` neighbours', is fitted on the first 85% of the
scenes and scored (Pearson correlation) on the rest. Held-out correlation with 300 scenes, as a ridge regression
(closed form, then refitted on all scenes): context 2 / ridge 10: 0.911; context 4 / 1: 0.927; context 6 / 1: 0.931;
context 8 / 1: 0.933. With one hidden layer (AdamW, 14 passes; the head scored is the one returned): context 6 / 256
wide / 8 passes: 0.943; context 8 / 512 wide / 14 passes (``add_mouth_head``'s default): 0.955; the same with 600
scenes: 0.968 on its last 90, and on the bench's close-up and monologue speech 0.950 / 0.944 against 0.917 / 0.923
with 300; with 1,200 (the recipe's, 2026-12-04): 0.976 on its last 180, on the bench's speech 0.968 / 0.955.
Every frame's context window is held in memory, written once into one array (200 scenes: 3.0 GB at the peak, 6.2 GB
when the windows were joined from a list and standardised through copies; 600 scenes: 7.6 GB; 1,200: 14.7 GB).
Re-timed held-out dubs: benchmarks/README.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from talkgen import SPEECH_RATE
from talkgen.models.mouth_head import SpeechMouthHead

logger = logging.getLogger(__name__)

FIRST_SCENE = 500_000  # scene seeds of the fit: far from the bench's held-out seeds (9,000s) and the DiT's data


@dataclass
class MouthHeadFit:
    """A fitted head and its held-out jaw correlation over ``frames`` held-out frames of ``scenes`` scenes."""

    head: SpeechMouthHead
    heldout_correlation: float
    scenes: int
    frames: int


@torch.no_grad()
def _scene_features(audio_encoder, seed: int, fps: float, max_characters: int) -> tuple[torch.Tensor, np.ndarray]:
    """One spoken scene: its streams' features (C, T, D) and their frames' jaw openings, flattened (C T,)."""
    from talkgen.synth.world import make_scene, perform, speak_lines

    rng = np.random.default_rng(seed)
    scene = make_scene(seed, num_characters=int(rng.integers(1, max_characters + 1)))
    perf = perform(scene, speak_lines(scene, SPEECH_RATE), fps)
    features = audio_encoder(torch.from_numpy(np.asarray(perf.audio, np.float32))[None], fps, perf.num_frames)
    return features[0].float(), np.asarray(perf.mouth[:, : perf.num_frames, 0]).reshape(-1)


@torch.no_grad()
def _window_rows(head: SpeechMouthHead, features: list[torch.Tensor]) -> np.ndarray:
    """Every frame's context window of every scene, (sum of C T, (2c+1) D) float32, written into one array (the
    windows are (2c+1) times the size of the features: a list of them joined afterwards needed twice the memory)."""
    total = sum(f.shape[0] * f.shape[1] for f in features)
    rows = np.empty((total, (2 * head.config.context + 1) * head.config.feature_dim), np.float32)
    at = 0
    for f in features:
        windows = head.windows(f).numpy()
        rows[at : at + f.shape[0] * f.shape[1]] = windows.reshape(-1, windows.shape[-1])
        at += f.shape[0] * f.shape[1]
    return rows


def _with_bias(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.ones((len(x), 1), x.dtype)], axis=1).astype(np.float64)


def _ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    xa = _with_bias(x)
    return np.linalg.solve(xa.T @ xa + ridge * np.eye(xa.shape[1]), xa.T @ y)


def _train_hidden(head: SpeechMouthHead, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    """Fit a head with a hidden layer by AdamW (one-cycle schedule, dropout on the standardised inputs), then fold
    the standardisation into its first layer so that it reads raw features."""
    mean, std = x.mean(0), x.std(0) + 1e-4
    standard = x - mean  # one array, standardised in place: (x - mean) / std without a second copy
    np.divide(standard, std, out=standard)
    inputs = torch.from_numpy(standard.astype(np.float32, copy=False))
    target = torch.from_numpy(y.astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Dropout(0.1), head.inner, head.proj)
    batch = 512
    steps = max(len(inputs) // batch, 1)
    with torch.random.fork_rng(devices=[]):  # seeded init and dropout; the caller's random state is left as it was
        torch.manual_seed(seed)
        for layer in (head.inner[0], head.proj):
            layer.reset_parameters()
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=epochs * steps)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(inputs), generator=generator)
            for b in range(steps):
                rows = order[b * batch : (b + 1) * batch]
                loss = torch.nn.functional.mse_loss(net(inputs[rows])[:, 0], target[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
    first = head.inner[0]
    with torch.no_grad():
        scale = torch.from_numpy(1.0 / std).float()
        first.bias.sub_(first.weight @ torch.from_numpy(mean / std).float())
        first.weight.mul_(scale[None])


def fit_mouth_head(
    audio_encoder,
    scenes: int = 300,
    context: int = 6,
    ridge: float = 1.0,
    fps: float = 25.0,
    max_characters: int = 3,
    first_scene: int = FIRST_SCENE,
    hidden: int = 0,
    epochs: int = 14,
    seed: int = 0,
) -> MouthHeadFit:
    """Fit a :class:`SpeechMouthHead` on ``scenes`` spoken scenes of the world (see the module docstring).

    ``hidden=0``: the ridge regression (``ridge``), refitted on all scenes after scoring. ``hidden>0``: a hidden
    layer of that width trained for ``epochs`` passes over the first 85% of the scenes; that head is the one scored
    and returned."""
    if scenes < 2:
        raise ValueError(f"scenes must be >= 2 (some are held out), got {scenes}")
    if hidden and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    head = SpeechMouthHead(feature_dim=audio_encoder.feature_dim, context=context, hidden=hidden)
    features, ys = [], []
    for i in range(scenes):
        f, y = _scene_features(audio_encoder, first_scene + i, fps, max_characters)
        features.append(f)
        ys.append(y)
    x, y = _window_rows(head, features), np.concatenate(ys)
    train = sum(len(rows) for rows in ys[: max(int(scenes * 0.85), 1)])  # rows in scene order: the rest held out
    if hidden:
        _train_hidden(head, x[:train], y[:train], epochs, seed)
        with torch.no_grad():
            prediction = head.proj(head.inner(torch.from_numpy(x[train:]).float()))[:, 0].numpy()
        corr = float(np.corrcoef(prediction, y[train:])[0, 1])
    else:
        w = _ridge(x[:train], y[:train], ridge)
        prediction = _with_bias(x[train:]) @ w
        corr = float(np.corrcoef(prediction, y[train:])[0, 1])
        w = _ridge(x, y, ridge)
        with torch.no_grad():
            head.proj.weight.copy_(torch.from_numpy(w[:-1]).float()[None])
            head.proj.bias.copy_(torch.tensor([w[-1]], dtype=torch.float32))
    logger.info("mouth head: held-out jaw correlation %.3f over %d frames", corr, len(y) - train)
    return MouthHeadFit(head.eval(), corr, scenes, len(y) - train)


RETIMED_STRENGTH = 0.4  # dubs from re-timed footage: less noise keeps more of the re-timing (benchmarks/README.md)


def add_mouth_head(
    model_dir,
    scenes: int = 300,
    context: int = 8,
    ridge: float = 1.0,
    strength: float = RETIMED_STRENGTH,
    hidden: int = 512,
    epochs: int = 14,
) -> MouthHeadFit:
    """Fit the mouth head on the model's own audio encoder and add it to the pipeline folder ``model_dir``
    (``mouth_head/`` and its ``model_index.json`` entry; a head already there is replaced); the folder's default dub
    strength becomes ``strength``."""
    import json
    from pathlib import Path

    from talkgen.errors import WeightsError
    from talkgen.models.audio_encoder import BuiltinAudioEncoder
    from talkgen.training.checkpoint import add_component

    folder = Path(model_dir)
    index_path = folder / "model_index.json"
    if not index_path.is_file() or not (folder / "audio_encoder").is_dir():
        raise WeightsError(f"{folder} is not a pipeline folder with a built-in audio_encoder/ and model_index.json")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    if index.get("audio_encoder", [None, None])[1] != "BuiltinAudioEncoder":
        raise WeightsError(f"the mouth head reads the built-in audio encoder's features; {folder} has another")
    encoder = BuiltinAudioEncoder.from_pretrained(folder / "audio_encoder").eval()
    fit = fit_mouth_head(encoder, scenes=scenes, context=context, ridge=ridge, hidden=hidden, epochs=epochs)
    # stored in float16, as the shipped folder's other weights are (the returned fit stays float32)
    add_component(
        folder, "mouth_head", fit.head, ["talkgen.models.mouth_head", "SpeechMouthHead"], default_strength=strength
    )
    return fit
