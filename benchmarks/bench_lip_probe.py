"""How much of a mouth cell's latent change can the speech explain, read by a small network (held-out R^2)?

Run: ``python benchmarks/bench_lip_probe.py --cache DIR [--epochs N] [--clips N] [--results NAME] [--seed S]``;
writes ``benchmarks/results/NAME.json`` (default ``lip_probe``). ``DIR`` is a latent cache of whole clips
(:mod:`talkgen.training.latent_cache`, e.g. ``configs/tiny-still-heads.yaml``'s); a stills cache (first frames
alone) has no latent change to probe and is refused.

Clips: the cache's first ``--clips`` clips (default all), read with ``LatentCache``, restricted to one-character
clips, since the mouth mask has no per-character identity: a clip is one-character when its world caption (the chunk
JSON's ``caption``) reads "One character talking" (its speech streams beyond the first are then all the same encoded
silence; silent streams are not zeros, and a present character may not speak within the clip, so the streams alone
cannot tell). Edit clips (those with a ``source``) are skipped, so each clip is an ordinary performance.

Samples: every mouth cell (``mouth[0, f, y, x] > 0``) of latent frames ``f >= 2``. Target: the cell's latent change
``latents[:, f, y, x] - latents[:, f - 1, y, x]`` (C). Inputs: ``reference[:, 0, y, x]`` and
``latents[:, f - 1, y, x]`` (C each), the cell's place in the frame's mouth cells' bounding box (row, column, each
``(offset + 0.5) / extent`` in (0, 1)), and the character's speech features of the 4 video frames latent frame ``f``
covers, ``audio[0, 4 f - 3 .. 4 f]`` (4 x D, in order; as ``LatentCache.sample`` slices a window: latent frame 0 is
video frame 0, latent frame k >= 1 video frames 4 k - 3 .. 4 k). Variants: ``own`` (that speech), ``none`` (zeros),
``shuffled`` (the speech of a random cell of another clip, the clips paired by a fixed derangement); each trained
from the same seed (same initial weights, same batch order).

Probe: an MLP (2 hidden layers of 512, GELU), AdamW lr 1e-3, batch 1024, ``--epochs`` passes; inputs and targets
standardised by the train set's statistics. Clips split 80/20 into train / held-out by ``--seed``.

Reported, per variant: ``held_out_r2`` after each epoch (a learning curve; 1 - SSE / SST over all channels in latent
units, SST about the train set's mean target) and the final ``train_r2``; ``speech_gain``: the final held-out R^2 of
``own`` minus ``none`` and minus ``shuffled`` (about 0 when the speech tells nothing about the lips' change beyond the
cell's reference and previous latent; ``none`` and ``shuffled`` should agree, ``shuffled`` guarding against a gain
that comes from the speech features' mere presence). Plus clip and cell counts and seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

VARIANTS = ("own", "none", "shuffled")
HELD_OUT_SHARE = 0.2
HIDDEN = 512
LEARNING_RATE = 1e-3
BATCH_SIZE = 1024
ONE_CHARACTER = ". One character talking "  # talkgen.synth.world.caption's count phrase for one character
_SPLIT_SALT = 0x5B17
_SHUFFLE_SALT = 0x5AFF


def load_clips(cache: Path, clips: int | None) -> tuple[list[dict], dict]:
    """The cache's first ``clips`` clips (all when None) that are one-character performances, and the counts.

    Raises:
        SystemExit: the folder is missing or not a complete latent cache.
    """
    from talkgen.errors import ConfigError
    from talkgen.training import TrainConfig
    from talkgen.training.latent_cache import CHUNK_SIZE, META_FILE, LatentCache

    if not cache.is_dir():
        raise SystemExit(f"latent cache {cache} does not exist: pass --cache a folder a DiT run built (latent_cache)")
    chunks = 0
    while (cache / f"chunk-{chunks:05d}.json").is_file():
        chunks += 1
    if not (cache / META_FILE).is_file() or chunks == 0:
        raise SystemExit(
            f"{cache} is not a latent cache (no {META_FILE} or chunk-00000.json): pass --cache a folder built by"
            " `talkgen train dit` with latent_cache set"
        )
    wanted = chunks * CHUNK_SIZE if clips is None else min(clips, chunks * CHUNK_SIZE)
    config = TrainConfig(task="dit", latent_cache=str(cache), latent_cache_clips=wanted, num_frames=1)
    try:  # num_frames 1: every clip is kept, in order; edit_repeat 1: each once
        everything = LatentCache(config).clips[:wanted]
    except ConfigError as error:
        raise SystemExit(f"{error} (pass --clips at most the clips it holds)") from None
    one = [clip for clip in everything if ONE_CHARACTER in clip["captions"][0]]
    chosen = [clip for clip in one if clip["source"] is None]
    counts = {"read": len(everything), "one_character": len(one), "edits_skipped": len(one) - len(chosen)}
    return chosen, counts


def clip_samples(clip: dict) -> dict[str, torch.Tensor]:
    """One clip's mouth-cell samples (N of them): ``reference``, ``previous``, ``target`` (N, C); ``place`` (N, 2);
    ``speech`` (N, 4 D), the character's features of the 4 video frames each cell's latent frame covers."""
    latents = clip["latents"].float()  # (C, F, h, w)
    mouth = clip["mouth"][0] > 0  # (F, h, w)
    mouth[:2] = False  # latent frames f >= 2: the change from a frame that is not the lone first one
    frames = latents.shape[1]
    audio = clip["audio"][0].float()  # (T, D): the one character's stream
    if audio.shape[0] < 4 * (frames - 1) + 1:
        raise SystemExit(f"a cache clip has {audio.shape[0]} speech frames for {frames} latent frames: rebuild it")
    f, y, x = mouth.nonzero(as_tuple=True)
    place = torch.empty(len(f), 2)
    for k in f.unique().tolist():
        rows, cols = mouth[k].nonzero(as_tuple=True)
        hit = f == k
        for axis, (cells, of) in enumerate(((rows, y), (cols, x))):
            low, extent = int(cells.min()), int(cells.max() - cells.min()) + 1
            place[hit, axis] = (of[hit] - low + 0.5) / extent
    video = 4 * f[:, None] - 3 + torch.arange(4)  # (N, 4) video frames of latent frame f
    return {
        "reference": clip["reference"][:, 0, y, x].float().T,
        "previous": latents[:, f - 1, y, x].T,
        "target": (latents[:, f, y, x] - latents[:, f - 1, y, x]).T,
        "place": place,
        "speech": audio[video].flatten(1),
    }


def shuffled_speech(speech: torch.Tensor, clip_ids: torch.Tensor, seed: int) -> torch.Tensor:
    """(N, 4 D) each sample's speech replaced by that of a random sample of another clip (clips paired by a fixed
    derangement: a random cycle through them), so the speech keeps its distribution but not its cell."""
    rng = np.random.default_rng([seed, _SHUFFLE_SALT])
    n = int(clip_ids.max()) + 1
    order = rng.permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[order] = np.roll(order, -1)
    counts = torch.bincount(clip_ids, minlength=n).numpy()
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])  # samples are stored clip after clip
    other = partner[clip_ids.numpy()]
    picks = starts[other] + np.floor(rng.random(len(other)) * counts[other]).astype(np.int64)
    return speech[torch.from_numpy(picks)]


def split_clips(n: int, seed: int) -> torch.Tensor:
    """(n,) bool: the held-out clips (``HELD_OUT_SHARE`` of them, at least one)."""
    held = torch.zeros(n, dtype=torch.bool)
    order = np.random.default_rng([seed, _SPLIT_SALT]).permutation(n)
    held[torch.from_numpy(order[: max(1, round(HELD_OUT_SHARE * n))])] = True
    return held


def _standardise(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # constant features (zeroed speech) stay 0
    return tuple((t - mean) / std for t in (train, *others))


def _r2(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> float:
    """1 - SSE / SST over all channels in latent units (``y`` raw (N, C); SST about the train mean ``mean``)."""
    sse = sst = 0.0
    with torch.no_grad():
        for i in range(0, len(x), 8192):
            pred = model(x[i : i + 8192]) * std + mean
            sse += float((pred - y[i : i + 8192]).double().square().sum())
            sst += float((y[i : i + 8192] - mean).double().square().sum())
    return 1.0 - sse / sst


def fit(
    x: torch.Tensor, y: torch.Tensor, held: torch.Tensor, epochs: int, seed: int
) -> tuple[list[float], float, float]:
    """Train the probe on the rows of ``x`` (N, I) -> ``y`` (N, C) not ``held``; held-out R^2 after each epoch, the
    final train R^2 and the seconds taken."""
    start = time.perf_counter()
    x_train, x_held = _standardise(x[~held], x[held])
    y_train, y_held = y[~held], y[held]
    mean, std = y_train.mean(0), y_train.std(0).clamp_min(1e-6)
    target = (y_train - mean) / std
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], HIDDEN),
        torch.nn.GELU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.GELU(),
        torch.nn.Linear(HIDDEN, y.shape[1]),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    order = torch.Generator().manual_seed(seed)
    curve = []
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x_train), generator=order).split(BATCH_SIZE):
            loss = torch.nn.functional.mse_loss(model(x_train[batch]), target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        curve.append(round(_r2(model, x_held, y_held, mean, std), 4))
    return curve, round(_r2(model, x_train, y_train, mean, std), 4), round(time.perf_counter() - start, 1)


def main(cache: Path, epochs: int, clips: int | None, results: str, seed: int) -> dict:
    torch.set_num_threads(2)
    start = time.perf_counter()
    chosen, counts = load_clips(cache, clips)
    per_clip = [s for s in (clip_samples(clip) for clip in chosen) if len(s["target"])]
    if len(per_clip) < 2:
        raise SystemExit(
            f"{cache}: {len(per_clip)} one-character clip(s) with mouth cells in latent frames >= 2 among the first"
            f" {counts['read']} (of them {counts['one_character']} one-character, {counts['edits_skipped']} edits"
            " skipped); the probe needs two or more: pass a larger --clips, or a cache of whole clips, not stills"
        )
    data = {key: torch.cat([s[key] for s in per_clip]) for key in per_clip[0]}
    clip_ids = torch.cat([torch.full((len(s["target"]),), i) for i, s in enumerate(per_clip)])
    held_clips = split_clips(len(per_clip), seed)
    held = held_clips[clip_ids]
    speech = {
        "own": data["speech"],
        "none": torch.zeros_like(data["speech"]),
        "shuffled": shuffled_speech(data["speech"], clip_ids, seed),
    }
    variants = {}
    for name in VARIANTS:
        x = torch.cat([data["reference"], data["previous"], data["place"], speech[name]], dim=1)
        curve, train_r2, seconds = fit(x, data["target"], held, epochs, seed)
        variants[name] = {"held_out_r2": curve, "train_r2": train_r2, "seconds": seconds}
        print(f"{name}: held-out R^2 per epoch {curve}, train R^2 {train_r2} ({seconds} s)", flush=True)
    final = {name: row["held_out_r2"][-1] for name, row in variants.items()}
    channels, speech_dim = data["target"].shape[1], data["speech"].shape[1]
    out = {
        "machine": machine_info(),
        "cache": str(cache),
        "clips": {
            **counts,
            "used": len(per_clip),
            "train": int((~held_clips).sum()),
            "held_out": int(held_clips.sum()),
        },
        "cells": {"train": int((~held).sum()), "held_out": int(held.sum())},
        "inputs": {"reference": channels, "previous": channels, "place": 2, "speech": speech_dim},
        "epochs": epochs,
        "seed": seed,
        "variants": variants,
        "speech_gain": {
            "own_minus_none": round(final["own"] - final["none"], 4),
            "own_minus_shuffled": round(final["own"] - final["shuffled"], 4),
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(out, indent=1))
    (Path(__file__).resolve().parent / "results" / f"{results}.json").write_text(json.dumps(out, indent=2))
    return out


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="a latent cache folder of whole clips")
    parser.add_argument("--epochs", type=_positive, default=10, help="passes over the train cells per variant")
    parser.add_argument("--clips", type=_positive, default=None, help="the cache's first N clips (default all)")
    parser.add_argument("--results", default="lip_probe", help="results file (benchmarks/results/NAME.json)")
    parser.add_argument("--seed", type=int, default=0, help="split, shuffle, initial weights and batch order")
    args = parser.parse_args()
    main(args.cache, args.epochs, args.clips, args.results, args.seed)
