"""PNG plots of sync and world results (matplotlib's Agg canvas directly: no pyplot state, no backend switching)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from talkgen.eval.signals import SyncResult


def _z(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else x * 0.0


def plot_sync(result: SyncResult, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write a PNG with the two compared tracks, the correlation over lags and the per-window curve.

    Args:
        result: a :class:`SyncResult` (its ``video_track`` / ``audio_track`` of length T are drawn).
        path: output ``.png`` path (parent folders are created).
        title: optional figure title.

    Returns:
        The written path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(9, 7), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(3, 1)
    t = np.arange(len(result.video_track)) / result.fps
    ax1.plot(t, _z(result.video_track), label="mouth opening (video)", color="tab:blue")
    ax1.plot(t, _z(result.audio_track), label="audio envelope", color="tab:orange", alpha=0.8)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("z-score (band-passed)")
    ax1.legend(loc="upper right", fontsize=8)
    ax2.plot(result.lags, result.correlations, marker="o", ms=3, color="tab:green")
    ax2.axvline(result.offset, color="tab:red", ls="--", label=f"offset {result.offset:+d} frames")
    ax2.axhline(float(np.median(result.correlations)), color="gray", ls=":", label="median")
    ax2.set_xlabel("lag (frames; positive = audio lags video)")
    ax2.set_ylabel("correlation")
    ax2.legend(loc="upper right", fontsize=8)
    if len(result.window_starts):
        ax3.plot(result.window_starts / result.fps, result.window_correlation, color="tab:purple")
    ax3.set_xlabel("window start (s)")
    ax3.set_ylabel("window corr @ offset")
    ax3.set_ylim(-1.05, 1.05)
    default = f"offset {result.offset:+d} frames, confidence {result.confidence:.3f}"
    fig.suptitle(title or f"{default}, corr@0 {result.correlation_at_zero:.3f}")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_world(report, truth, openings: np.ndarray, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write a PNG with, per character, the mouth opening read from the video against the ground-truth jaw track
    (z-scores; speaking frames shaded) and the character's scores.

    Args:
        report: the clip's :class:`~talkgen.eval.world.WorldReport`. truth: its ground truth (T frames).
        openings: float (T, C) openings read from the video (:func:`~talkgen.eval.world.read_mouth_openings`).
        path: output ``.png`` path (parent folders are created). title: optional figure title.

    Returns:
        The written path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = max(1, len(truth.characters))
    fig = Figure(figsize=(9, 2.4 * count + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(count, 1, squeeze=False)[:, 0])
    t = np.arange(truth.num_frames) / truth.fps
    for k, (ax, ch, score) in enumerate(zip(axes, truth.characters, report.characters, strict=False)):
        opening = np.asarray(openings[:, k], dtype=np.float64)
        shown = np.isfinite(opening)
        ax.fill_between(t, -3, 3, where=ch.speaking, color="tab:orange", alpha=0.12, step="mid", label="speaking")
        ax.plot(t, _z(ch.mouth_params[:, 0]), color="tab:orange", label="jaw (ground truth)")
        if shown.any():
            ax.plot(t[shown], _z(opening[shown]), color="tab:blue", label="mouth opening (video)")
        ax.set_ylim(-3, 3)
        ax.set_ylabel(ch.tag)
        ax.set_title(
            f"{ch.tag}: corr {score.correlation:.3f}, offset {score.offset:+d}, closed in silence"
            f" {score.closed_in_silence:.3f}",
            fontsize=9,
        )
        ax.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title or f"corr {report.correlation:.3f}, attribution {report.speaker_attribution:.3f}")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
