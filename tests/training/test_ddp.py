"""Real two-process DDP (gloo on CPU) through ``accelerate launch``.

``accelerate launch --cpu --num_processes 2`` runs a single process in accelerate 1.x (its simple launcher); the
multi-process CPU path is ``--multi_gpu`` on a machine without visible GPUs plus ``cpu: true`` in the config
(accelerate then picks ``MULTI_CPU`` with gloo).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TALKGEN = Path(sys.executable).parent / "talkgen"


@pytest.mark.skipif(not TALKGEN.is_file(), reason="the talkgen console script is not installed")
def test_accelerate_launch_two_cpu_processes(tmp_path, tiny_settings):
    config = tmp_path / "dit.yaml"
    config.write_text(yaml.safe_dump({**tiny_settings, "task": "dit", "output_dir": str(tmp_path / "out")}))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port"]
    command += ["0", str(TALKGEN), "train", "dit", "--config", str(config), "--steps", "2"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("step 2 loss") == 2  # both ranks trained two steps
    assert (tmp_path / "out" / "final" / "transformer" / "config.json").is_file()
    assert (tmp_path / "out" / "checkpoint-2" / "state.json").is_file()
