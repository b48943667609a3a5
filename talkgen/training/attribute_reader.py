"""Fit the attribute reader (:class:`~talkgen.models.attribute_reader.AttributeReaderNet`) of a model.

The synthetic world renders single-character stills (no lines: a close-up or a medium shot at rest) whose colours
are exactly the character's attributes. Each still goes through the model's own codec and half of them are blurred;
training adds a little noise, a blur of up to 2.5 pixels at the reader's 64 px (generated frames are softer than the
codec's) and mirroring per step. The last 10% are held out and scored per part (accuracy of the arg-max name).

What counts in use is whether the reader picks the better of several keyframe draws: ``bench_keyframe.py --draws N``
measures that with the bench's own truth-mask reader (:mod:`talkgen.eval.attributes`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from talkgen.models.attribute_reader import NONE, PARTS, AttributeReaderNet

logger = logging.getLogger(__name__)

FIRST_SCENE = 2_000_000  # far from the bench's held-out seeds, the DiT's, the mouth head's and the locator's
CLASS_PATH = ["talkgen.models.attribute_reader", "AttributeReaderNet"]
# Codec components kept, one drawn per still: all of the shipped 96. Keeping 16-48 as well (as the mouth locator's
# fit does) picked keyframe draws no better (+0.014 vs +0.017 over 96 held-out characters x 4 draws).
KEEP = (96,)


@dataclass
class AttributeReaderFit:
    """A fitted reader and its held-out accuracy per part over ``stills`` stills."""

    net: AttributeReaderNet
    accuracy: dict[str, float]
    stills: int


def labels(character, vocabulary: dict[str, list[str]]) -> list[int]:
    """A world character's class index per part (:data:`~talkgen.models.attribute_reader.PARTS` order)."""
    names = {
        "skin": character.skin,
        "shirt": character.shirt_color,
        "hair": NONE if character.hair_style == "bald" else character.hair_color,
        "hat": NONE if character.hat == "none" else character.hat_color,
    }
    return [vocabulary[part].index(names[part]) for part in PARTS]


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) blurred by a Gaussian of per-image ``sigma`` (B,) pixels (0: unchanged), edges extended."""
    radius = 4
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps[None] / sigma.clamp(min=1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (B, 9); sigma 0 -> a unit tap
    b, c, h, w = x.shape
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="replicate")
    k = kernel.repeat_interleave(c, dim=0)
    y = F.conv2d(y, k[:, None, None, :], groups=b * c)
    y = F.conv2d(y, k[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)


@torch.no_grad()
def soften_stills(images: torch.Tensor, codec, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] through ``codec`` one still each, keeping its first :data:`KEEP` components (one
    count drawn per still), then blurred with sigma in [0, 1.5) for half of them."""
    z = codec.encode(images[:, :, None]).latent_dist.mode()
    keep = torch.tensor(KEEP)[torch.randint(len(KEEP), (len(images),), generator=generator)]
    channels = torch.arange(z.shape[1])
    z = z * (channels[None] < keep[:, None]).to(z.dtype)[:, :, None, None, None]
    out = codec.decode(z).sample[:, :, 0].clamp(-1, 1)
    sigma = torch.rand(len(images), generator=generator) * 1.5
    sigma = torch.where(torch.rand(len(images), generator=generator) < 0.5, sigma, torch.zeros(()))
    return _blur(out, sigma)


def reader_stills(
    count: int, vocabulary: dict[str, list[str]], codec=None, size: int = 64, first_scene: int = FIRST_SCENE,
    seed: int = 0, batch: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``count`` single-character world stills (128 px, through ``codec`` softened when given) area-resized to
    ``size``: ``(images uint8 (N, 3, size, size), labels int64 (N, 4))``."""
    from talkgen.synth.world import make_scene, perform, render_performance

    generator = torch.Generator().manual_seed(seed)
    images, rows = [], []
    for start in range(0, count, batch):
        frames = []
        for i in range(start, min(start + batch, count)):
            scene = make_scene(first_scene + i, num_characters=1, lines=[])
            clip = render_performance(scene, perform(scene, [], 25.0, 1), 128)
            frames.append(clip.frames[0].permute(2, 0, 1).float() / 127.5 - 1.0)
            rows.append(labels(scene.characters[0], vocabulary))
        x = torch.stack(frames)
        if codec is not None:
            x = soften_stills(x, codec, generator)
        x = F.interpolate(x, size=(size, size), mode="area")
        images.append(((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(images), torch.tensor(rows, dtype=torch.int64)


def _augment(x: torch.Tensor, generator: torch.Generator, blur: float = 1.0) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> float in [-1, 1], each blurred (sigma < ``blur`` px), noised and mirrored at random."""
    x = x.float() / 127.5 - 1.0
    b = len(x)
    x = _blur(x, torch.rand(b, generator=generator) * blur)
    x = x + 0.05 * torch.randn(x.shape, generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def accuracy(net: AttributeReaderNet, images: torch.Tensor, rows: torch.Tensor) -> dict[str, float]:
    """Share of ``images`` (uint8 (N, 3, S, S)) whose arg-max name is the label, per part."""
    net.eval()
    with torch.no_grad():
        tables = [net.log_probs(images[s : s + 256].float() / 127.5 - 1.0) for s in range(0, len(images), 256)]
    return {
        part: float((torch.cat([t[part] for t in tables]).argmax(1) == rows[:, k]).float().mean())
        for k, part in enumerate(PARTS)
    }


def fit_attribute_reader(
    codec=None,
    stills: int = 20_000,
    steps: int = 1500,
    batch: int = 64,
    lr: float = 2e-3,
    size: int = 64,
    width: int = 48,
    seed: int = 0,
    blur: float = 2.5,
) -> AttributeReaderFit:
    """Train an :class:`AttributeReaderNet` on ``stills`` rendered stills (the last 10% held out; see the module
    docstring) for ``steps`` AdamW steps (one-cycle schedule), each batch blurred up to ``blur`` pixels."""
    from talkgen.synth.characters import COLORS, SKIN_TONES

    if stills < 20:
        raise ValueError(f"stills must be >= 20 (a tenth is held out), got {stills}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AttributeReaderNet(skin_tones=list(SKIN_TONES), colours=list(COLORS), size=size, width=width)
    images, rows = reader_stills(stills, net.vocabulary(), codec, size, seed=seed)
    held = int(stills * 0.9)
    sizes = [len(v) for v in net.vocabulary().values()]
    generator = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    net.train()
    for step in range(steps):
        pick = torch.randint(held, (batch,), generator=generator)
        logits = net(_augment(images[pick], generator, blur)).split(sizes, dim=1)
        value = sum(F.cross_entropy(x, rows[pick, k]) for k, x in enumerate(logits))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        schedule.step()
        if step % 500 == 0:
            logger.info("attribute reader step %d: loss %.4f", step, value.item())
    scores = accuracy(net, images[held:], rows[held:])
    logger.info("attribute reader: held-out accuracy %s", {k: round(v, 3) for k, v in scores.items()})
    return AttributeReaderFit(net.eval(), scores, stills - held)


def add_attribute_reader(
    model_dir, stills: int = 20_000, steps: int = 1500, width: int = 48, size: int = 64, keyframe_draws: int = 3
) -> AttributeReaderFit:
    """Fit the attribute reader on the model's own codec and add it to the pipeline folder ``model_dir``
    (``attribute_reader/``, and ``keyframe_draws``, the first frames a take draws to pick from, in its
    ``model_index.json``; a reader already there is replaced)."""
    from talkgen.training.checkpoint import add_component, folder_codec

    if keyframe_draws < 1:
        raise ValueError(f"keyframe_draws must be >= 1, got {keyframe_draws}")
    folder, codec = folder_codec(model_dir)
    fit = fit_attribute_reader(codec, stills=stills, steps=steps, size=size, width=width)
    add_component(folder, "attribute_reader", fit.net, CLASS_PATH, keyframe_draws=keyframe_draws)
    return fit
