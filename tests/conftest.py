"""Suite-wide settings: the CPU's cores shared out among pytest-xdist's workers.

The suite runs on as many workers as the machine has cores, at most 4 (`-n auto --maxprocesses 4` in pyproject.toml,
so that a large machine does not load the models once per core; `-n0` runs it in one process). Each worker, and
every talkgen command a test starts, gets its share of the cores as torch threads: workers that each used every
core would oversubscribe the CPU and run slower than one process.
"""

from __future__ import annotations

import os

import pytest


def _threads() -> int:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


THREADS = _threads()


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = str(THREADS)  # the talkgen commands tests start inherit it


@pytest.fixture(autouse=True)
def _torch_threads():
    """Every test starts with this worker's share of the cores (some code under test sets one thread)."""
    import torch

    torch.set_num_threads(THREADS)
