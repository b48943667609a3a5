"""How much of what the mouths do in latent units is articulation, and how much of it the speech explains linearly.

Run: ``python benchmarks/bench_articulation.py --cache DIR [--clips N] [--results NAME]``; writes
``benchmarks/results/NAME.json`` (default ``articulation``). ``DIR`` is a DiT latent cache with edit pairs
(``configs/tiny.yaml`` or ``configs/tiny-continue.yaml`` build one at the start of their run, ``latent_cache`` in
the config; ``configs/tiny-still-heads.yaml`` one of still heads).

On the mouth cells (latent cells covering a mouth, latent frames >= 1) of the cache's clips:

- ``articulation_share``: the energy of an edit clip minus its source (same identity, motion and shots, other
  speech, so the difference is the lips alone) against the energy of the mouth cells' movement: each cell's latent
  around its own mean over the frames in which it covers a mouth (everything that moves there: lips, head sway,
  nods, cuts). The difference of two utterances holds about twice one utterance's articulation.
- ``articulation_share_of_spread``: the same energy against the mouth cells' spread around their common clip mean
  (movement plus the differences between one cell and the next, which no motion causes).
- ``top_components``: the share of that articulation in its 4 / 8 / 16 / 32 principal latent directions (what
  ``articulation_weight`` weighs, ``articulation_components`` of them).
- ``speech_r2``: close-up clips split 80 / 20 by clip; a ridge regression from the speech features of each latent
  frame's 4 video frames (streams summed) to the mean latent of its mouth cells (both around their clip mean), scored
  on the held-out clips (R^2; 0: the speech explains none of the mouth cells' movement).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import machine_info

COMPONENTS = (4, 8, 16, 32)
RIDGE = (10.0, 100.0, 1000.0)


def read_clips(cache: Path, limit: int):
    """Cache clips (caption, latents, source or None, audio, mouth), at most ``limit``, one at a time."""
    from safetensors.torch import load_file

    count = 0
    for names in sorted(cache.glob("chunk-*.json")):
        tensors = load_file(str(names.with_suffix(".safetensors")))
        for j, row in enumerate(json.loads(names.read_text(encoding="utf-8"))):
            key = f"{j:03d}"
            if f"{key}.latents" not in tensors:
                continue
            yield {
                "caption": row["caption"],
                "latents": tensors[f"{key}.latents"].double(),
                "source": None if f"{key}.source" not in tensors else tensors[f"{key}.source"].double(),
                "audio": tensors[f"{key}.audio"].double(),
                "mouth": tensors[f"{key}.mouth"],
            }  # fmt: skip
            count += 1
            if count >= limit:
                return


class Articulation:
    """Edit-minus-source energy and second moment on the mouth cells, against the cells' own movement."""

    def __init__(self) -> None:
        self.moment, self.diff_energy, self.move_energy, self.spread_energy = None, 0.0, 0.0, 0.0

    def add(self, clip: dict) -> None:
        from talkgen.training.latent_cache import edit_mouth_difference

        diff = edit_mouth_difference(clip)  # (C, n) the lips alone
        if diff is None or diff.shape[1] == 0:
            return
        latents, mask = clip["latents"][:, 1:], (clip["mouth"][0, 1:] > 0).to(clip["latents"].dtype)  # (C,T,H,W)
        own_mean = (latents * mask).sum(1) / mask.sum(0).clamp(min=1)  # each cell's mean over its mouth frames
        cells = latents[:, mask > 0]
        self.moment = diff @ diff.T if self.moment is None else self.moment + diff @ diff.T
        self.diff_energy += float(diff.pow(2).sum())
        self.move_energy += float(((latents - own_mean[:, None]).pow(2) * mask).sum())
        self.spread_energy += float((cells - cells.mean(1, keepdim=True)).pow(2).sum())

    def result(self) -> dict:
        return {
            "articulation_share": round(self.diff_energy / self.move_energy, 4),
            "articulation_share_of_spread": round(self.diff_energy / self.spread_energy, 4),
            "top_components": _top_components(self.moment),
        }


def _top_components(moment: torch.Tensor) -> dict:
    values = torch.linalg.eigvalsh(moment).flip(0)
    cumulative = values.cumsum(0) / values.sum()
    return {str(k): round(float(cumulative[k - 1]), 3) for k in COMPONENTS}


def speech_rows(clip: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A close-up's (speech of each latent frame, mean latent of its mouth cells), both around their clip mean."""
    if not clip["caption"].startswith("Close-up"):
        return None
    rows_x, rows_y = [], []
    for i in range(1, clip["latents"].shape[1]):
        cells = clip["mouth"][0, i] > 0
        speech = clip["audio"][:, 4 * i - 3 : 4 * i + 1].sum(0)  # (4, D) the latent's own frames
        if cells.any() and speech.shape[0] == 4:
            rows_x.append(speech.flatten())
            rows_y.append(clip["latents"][:, i][:, cells].mean(1))
    if len(rows_x) < 5:
        return None
    x, y = torch.stack(rows_x), torch.stack(rows_y)
    return x - x.mean(0), y - y.mean(0)


def speech_r2(xs: list[torch.Tensor], ys: list[torch.Tensor]) -> dict:
    cut = int(0.8 * len(xs))
    x_fit, y_fit, x_test, y_test = (torch.cat(part) for part in (xs[:cut], ys[:cut], xs[cut:], ys[cut:]))
    scores = {}
    for lam in RIDGE:
        w = torch.linalg.solve(x_fit.T @ x_fit + lam * torch.eye(x_fit.shape[1], dtype=x_fit.dtype), x_fit.T @ y_fit)
        scores[str(lam)] = round(float(1 - (x_test @ w - y_test).pow(2).sum() / y_test.pow(2).sum()), 4)
    return {"clips": len(xs), "held_out_clips": len(xs) - cut, "r2_by_ridge": scores}


def main(cache: Path, limit: int, results: str = "articulation") -> dict:
    torch.set_num_threads(1)
    start = time.perf_counter()
    art, xs, ys, count = Articulation(), [], [], 0
    for clip in read_clips(cache, limit):
        count += 1
        art.add(clip)
        rows = speech_rows(clip)
        if rows is not None:
            xs.append(rows[0])
            ys.append(rows[1])
    if art.moment is None:
        raise SystemExit(f"{cache} holds no edit pairs: build the cache with edit_share > 0")
    out = {
        "machine": machine_info(),
        "cache": str(cache),
        "clips": count,
        **art.result(),
        "speech_r2": speech_r2(xs, ys),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(out, indent=1))
    path = Path(__file__).resolve().parent / "results" / f"{results}.json"
    path.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="a DiT latent cache folder with edit pairs")
    parser.add_argument("--clips", type=int, default=2048, help="read at most this many clips")
    parser.add_argument("--results", default="articulation", help="results file name (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    main(args.cache, args.clips, args.results)
