"""Shared helpers of the benchmark scripts (run as ``python benchmarks/bench_<area>.py``)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """CPU model, cores, Python and torch versions, and the GPU when one is visible."""
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def mean_of(values) -> float | None:
    """Mean of the numbers among ``values``, leaving out None and NaN (a row a case does not score); None if none."""
    numbers = [v for v in values if v is not None and v == v]
    return sum(numbers) / len(numbers) if numbers else None


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest of ``repeat`` wall-clock timings of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def suite(names: tuple[str, ...] = ()) -> tuple:
    """The full suite's cases, or those named in ``names`` (in the suite's order)."""
    from talkgen.eval.bench import SUITES

    full = SUITES["full"]
    unknown = sorted(set(names) - {c.name for c in full})
    if unknown:
        raise SystemExit(f"--case: no case {unknown} in the full suite; its cases: {[c.name for c in full]}")
    return tuple(c for c in full if not names or c.name in names)


def write_results(name: str, out: dict) -> Path:
    """Write ``out`` (with this machine's :func:`machine_info` first) to ``benchmarks/results/NAME.json``."""
    import json

    path = Path(__file__).resolve().parent / "results" / f"{name}.json"
    path.write_text(json.dumps({"machine": machine_info(), **out}, indent=2))
    return path


def rounded(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded for a results file; None where there is no number (None or NaN, e.g. one character's
    attribution)."""
    return None if value is None or value != value else round(float(value), digits)
