"""Fit the mouth locator (:class:`~talkgen.models.mouth_locator.MouthLocatorNet`) of a model.

The synthetic world renders clips with every mouth's exact box. Frames are drawn from rendered clips (scene seeds
far from the bench's and the other stages'); a share of the clips is passed through the model's own codec keeping
only its first 16-96 components (the softer the fewer: generated frames are softer than the codec's best) and
blurred, so that the locator also finds the mouths of the model's generated frames, where MediaPipe finds almost
none. Where the model has a keyframe transformer, first frames it draws from other clips' captions join them,
labelled with the mouth boxes of those clips' rendered first frames (the keyframe transformer learned the world's
framing; its heads sit within a few pixels of the render's). The last 10% of each kind are held out and scored: the
share of true mouths found (a detection whose centre lies within a quarter of the box's width of the true centre)
and the mean centre error of those found, in pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from talkgen.models.mouth_locator import THRESHOLD, MouthLocatorNet, loss, targets

logger = logging.getLogger(__name__)

FIRST_SCENE = 700_000  # far from the bench's held-out seeds (9,000s), the DiT's data and the mouth head's
CLASS_PATH = ["talkgen.models.mouth_locator", "MouthLocatorNet"]


@dataclass
class MouthLocatorFit:
    """A fitted locator and its held-out scores over ``mouths`` true mouths of ``frames`` frames."""

    net: MouthLocatorNet
    found: float
    centre_error_px: float
    frames: int
    mouths: int
    drawn_found: float | None = None  # the same scores on held-out first frames drawn by the keyframe transformer
    drawn_centre_error_px: float | None = None


@torch.no_grad()
def soften(video: torch.Tensor, codec, generator: torch.Generator) -> torch.Tensor:
    """(3, T, H, W) in [-1, 1] through ``codec`` with its first 16, 32, 48 or 96 components kept, then blurred."""
    z = codec.encode(video[None]).latent_dist.mode()
    keep = int([16, 32, 48, z.shape[1]][int(torch.randint(4, (1,), generator=generator))])
    z[:, keep:] = 0.0
    out = codec.decode(z).sample[0].clamp(-1, 1)
    sigma = float(torch.rand((), generator=generator)) * 2.0
    if sigma > 0.3:  # a Gaussian blur of each frame, 2 sigma either side, edges extended
        from scipy.ndimage import gaussian_filter

        r = math.ceil(2 * sigma)
        out = torch.from_numpy(gaussian_filter(out.numpy(), (0, 0, sigma, sigma), mode="nearest", radius=(0, 0, r, r)))
    return out


def locator_frames(
    clips: int, codec=None, soft_share: float = 0.6, per_clip: int = 8, first_scene: int = FIRST_SCENE, seed: int = 0
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """``per_clip`` frames of each of ``clips`` rendered world clips (33 frames, 128 px, up to three characters).

    Returns ``(images, boxes, clip_of)``: (N, 3, 128, 128) in [-1, 1], float32 (N, 3, 4) mouth boxes in pixels (NaN:
    no such character or off screen) and each frame's clip number. With ``codec``, ``soft_share`` of the clips
    are softened (see the module docstring)."""
    from talkgen.synth.dataset import SynthConfig, render_sample

    config = SynthConfig(num_frames=33)
    generator = torch.Generator().manual_seed(seed)
    images, boxes, clip_of = [], [], []
    for i in range(clips):
        sample = render_sample(first_scene + i, config)
        video = sample["video"]
        if codec is not None and float(torch.rand((), generator=generator)) < soft_share:
            video = soften(video, codec, generator)
        pick = torch.randperm(video.shape[1], generator=generator)[:per_clip]
        images.append(video[:, pick].permute(1, 0, 2, 3))
        boxes.append(sample["mouth_box"][:, pick].permute(1, 0, 2).numpy())
        clip_of.append(np.full(len(pick), i))
    return torch.cat(images), np.concatenate(boxes), np.concatenate(clip_of)


@torch.no_grad()
def drawn_first_frames(
    pipe, count: int, first_scene: int = FIRST_SCENE + 100_000, batch: int = 16, seed: int = 0
) -> tuple[torch.Tensor, np.ndarray]:
    """First frames that ``pipe``'s keyframe transformer draws (its defaults) from the captions of ``count`` world
    clips, and the mouth boxes of the clips' rendered first frames: ``(images (N, 3, 128, 128) in [-1, 1],
    boxes float32 (N, 3, 4))``."""
    from talkgen.synth.dataset import SynthConfig, render_sample

    config = SynthConfig(num_frames=33)
    generator = torch.Generator().manual_seed(seed)
    device = pipe._execution_device
    empty = pipe.encode_text([""], device)  # the unconditional pass's text, the same for every frame
    images, boxes = [], []
    for start in range(0, count, batch):
        samples = [render_sample(first_scene + i, config) for i in range(start, min(start + batch, count))]
        embeds = pipe.encode_text([str(s["caption"]) for s in samples], device)
        latents = pipe.draw_keyframe(embeds, empty.expand(len(samples), -1, -1), 128, 128, generator=generator)
        images.append(pipe.decode_video(latents)[:, :, 0].float().clamp(-1, 1))
        boxes.append(np.stack([s["mouth_box"][:, 0].numpy() for s in samples]))
    return torch.cat(images), np.concatenate(boxes)


def score(
    net: MouthLocatorNet, images: torch.Tensor, boxes: np.ndarray, threshold: float = THRESHOLD
) -> tuple[float, float, int]:
    """``(found, centre error px, true mouths)`` of ``net`` on images (N, 3, S, S) in [-1, 1] and their boxes."""
    pred, _ = net.eval().find(images, boxes.shape[1], threshold)
    found, errors, total = 0, [], 0
    for p, truth in zip(pred, boxes, strict=True):
        centres = (p[:, :2] + p[:, 2:]) / 2
        for box in truth[np.isfinite(truth).all(axis=1)]:
            total += 1
            d = np.linalg.norm(centres - (box[:2] + box[2:]) / 2, axis=1)
            d = d[np.isfinite(d)]
            if len(d) and d.min() <= 0.25 * (box[2] - box[0]):
                found += 1
                errors.append(float(d.min()))
    return found / max(total, 1), float(np.mean(errors)) if errors else float("nan"), total


def fit_mouth_locator(
    codec=None,
    clips: int = 600,
    steps: int = 2000,
    batch: int = 32,
    lr: float = 2e-3,
    width: int = 64,
    seed: int = 0,
    pipe=None,
    drawn: int = 1200,
) -> MouthLocatorFit:
    """Train a :class:`MouthLocatorNet` on ``clips`` rendered clips and, with ``pipe`` (a pipeline with a keyframe
    transformer), ``drawn`` first frames it draws (the last 10% of each held out; see the module docstring) for
    ``steps`` AdamW steps (one-cycle schedule, random horizontal flips)."""
    if clips < 10:
        raise ValueError(f"clips must be >= 10 (a tenth is held out), got {clips}")
    images, boxes, clip_of = locator_frames(clips, codec, seed=seed)
    held = clip_of >= int(clips * 0.9)
    drawn_held = None
    if pipe is not None and drawn >= 10:
        more, more_boxes = drawn_first_frames(pipe, drawn, seed=seed)
        drawn_held = np.arange(drawn) >= int(drawn * 0.9)
        images, boxes = torch.cat([images, more]), np.concatenate([boxes, more_boxes])
        held = np.concatenate([held, drawn_held])
    size = images.shape[-1]
    maps = [targets(b, size) for b in boxes]
    heat = torch.stack([m[0] for m in maps])
    reg = torch.stack([m[1] for m in maps])
    mask = torch.stack([m[2] for m in maps])
    train = torch.from_numpy(np.flatnonzero(~held))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = MouthLocatorNet(size=size, width=width)
        optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
        net.train()
        for step in range(steps):
            rows = train[torch.randint(len(train), (batch,))]
            x, h, r, m = images[rows], heat[rows], reg[rows], mask[rows]
            if step % 2:  # mirror: the boxes' cells, offsets and sizes mirror with the frame
                x, h, r, m = _flip(x, h, r, m)
            value = loss(net(x), h, r, m)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            schedule.step()
            if step % 200 == 0:
                logger.info("mouth locator step %d: loss %.4f", step, value.item())
    found, error, mouths = score(net, images[held], boxes[held])
    logger.info("mouth locator: held-out found %.3f, centre error %.2f px (%d mouths)", found, error, mouths)
    fit = MouthLocatorFit(net.eval(), found, error, int(held.sum()), mouths)
    if drawn_held is not None:
        rows = np.flatnonzero(held)[-int(drawn_held.sum()) :]
        fit.drawn_found, fit.drawn_centre_error_px, _ = score(net, images[rows], boxes[rows])
        logger.info("drawn first frames: found %.3f, error %.2f px", fit.drawn_found, fit.drawn_centre_error_px)
    return fit


def _flip(x, h, r, m):
    """Mirrored inputs and targets: the maps flip; a centre's offset within its (mirrored) cell becomes 1 - offset."""
    r = r.flip(-1).clone()
    m = m.flip(-1)
    r[:, 0] = torch.where(m, 1.0 - r[:, 0], r[:, 0])
    return x.flip(-1), h.flip(-1), r, m


def add_mouth_locator(
    model_dir, clips: int = 600, steps: int = 2000, width: int = 64, drawn: int = 1200
) -> MouthLocatorFit:
    """Fit the mouth locator on the model's own codec (and first frames its keyframe transformer draws, where it
    has one) and add it to the pipeline folder ``model_dir`` (``mouth_locator/`` and its ``model_index.json``
    entry; a locator already there is replaced)."""
    from talkgen.training.checkpoint import add_component, folder_codec

    folder, codec = folder_codec(model_dir)
    pipe = None
    if (folder / "keyframe_transformer").is_dir() and drawn:
        from talkgen.pipelines.loading import load_pipeline

        pipe = load_pipeline("talking", folder)[0]
    fit = fit_mouth_locator(codec, clips=clips, steps=steps, width=width, pipe=pipe, drawn=drawn)
    add_component(folder, "mouth_locator", fit.net, CLASS_PATH)
    return fit
