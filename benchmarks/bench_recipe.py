"""The talkgen-tiny recipe study: learning curves of lip sync, and what the audio-encoder pretraining buys.

Run: ``python benchmarks/bench_recipe.py --run RUN_DIR [--checkpoints 500 1000 ...] [--steps 8]``; writes
``benchmarks/results/recipe.json``.

1. **Audio features** (the pretraining lever): a ridge-regression probe from audio-encoder features to the jaw
   opening of the synthetic world, fitted on 4 or 96 training windows of 2.6 s and scored (Pearson correlation) on
   48 held-out ones, for the pretrained encoder of the run and for a randomly initialised encoder of the same
   shape (baseline, same run).
2. **Learning curve** of the DiT run: for each checkpoint (EMA weights), the bench's close-up and two-shot cases
   generated from caption and speech at ``--steps`` steps, scored against the ground truth (sync correlation,
   |offset|, speaker attribution, closed in silence); ceiling and floor rows from the same cases.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

CASES = ("close-up", "two-shot dialogue with cuts")
PROBE_WINDOWS = (4, 96)  # training windows of 65 frames for the probe: few (sample efficiency) and many


def _features(encoder, config, indices) -> tuple[np.ndarray, np.ndarray]:
    from talkgen.training.audio import speech_sample

    feats, jaws = [], []
    with torch.no_grad():
        for i in indices:
            s = speech_sample(config, i)
            f = encoder(s["audio_streams"][None], config.fps, config.num_frames)[0]  # (S, T, D)
            speaking = s["mouth_params"][..., 0].abs().sum(-1) > 0  # streams with a voice
            for k in torch.nonzero(speaking).flatten().tolist():
                feats.append(f[k].numpy())
                jaws.append(s["mouth_params"][k, :, 0].numpy())
    return np.concatenate(feats), np.concatenate(jaws)


def audio_probe(encoder_dir: Path) -> dict:
    """Held-out jaw correlation of a ridge probe on pretrained vs random encoder features."""
    from talkgen.models.audio_encoder import BuiltinAudioEncoder
    from talkgen.training.config import TrainConfig
    from talkgen.training.validation import HOLDOUT_OFFSET

    config = TrainConfig(task="audio", num_frames=65)
    pretrained = BuiltinAudioEncoder.from_pretrained(encoder_dir).eval()
    torch.manual_seed(0)
    random = BuiltinAudioEncoder(**{k: v for k, v in pretrained.config.items() if not k.startswith("_")}).eval()
    out = {}
    for name, encoder in (("pretrained", pretrained), ("random init (baseline)", random)):
        xt, yt = _features(encoder, config, range(HOLDOUT_OFFSET + 5_000, HOLDOUT_OFFSET + 5_048))
        for windows in PROBE_WINDOWS:
            x, y = _features(encoder, config, range(50_000, 50_000 + windows))
            mean, std = x.mean(0), x.std(0) + 1e-6
            a = np.c_[(x - mean) / std, np.ones(len(x))]
            w = np.linalg.solve(a.T @ a + 1.0 * np.eye(a.shape[1]), a.T @ y)
            pred = np.c_[(xt - mean) / std, np.ones(len(xt))] @ w
            out[f"{name}, probe fitted on {len(y)} frames"] = {
                "jaw_corr": float(np.corrcoef(pred, yt)[0, 1]),
                "train_frames": len(y),
                "test_frames": len(yt),
            }
    return out


def checkpoint_pipeline(run_dir: Path, checkpoint: Path):
    """A TalkingCharacterPipeline with a checkpoint's EMA weights (built in memory; nothing written)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline
    from talkgen.training import TrainConfig, build_trainer
    from talkgen.training.export import SCHEDULER_SHIFT

    state = json.loads((checkpoint / "state.json").read_text())
    config = TrainConfig.from_dict(state["extra"]["config"]).replace(resume_from=str(checkpoint))
    trainer = build_trainer(config)
    if trainer.ema is not None:
        trainer.ema.copy_to(trainer.params)
    module = trainer.accelerator.unwrap_model(trainer.module).eval()
    task = trainer.task
    pipe = TalkingCharacterPipeline(
        vae=task.vae, text_encoder=task.text_encoder, tokenizer=task.tokenizer, audio_encoder=module.audio_encoder,
        transformer=module.transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=SCHEDULER_SHIFT),
        max_text_length=config.text_len, window_frames=config.num_frames,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main() -> None:
    from talkgen.eval.bench import SUITES, markdown_table, pipeline_model, run_bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the DiT run folder")
    parser.add_argument("--audio", type=Path, default=None, help="pretrained audio encoder (default: from the run)")
    parser.add_argument("--checkpoints", type=int, nargs="*", default=None, help="steps (default: every one)")
    parser.add_argument("--steps", type=int, default=8, help="sampling steps of the model rows")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "recipe.json")
    args = parser.parse_args()

    result: dict = {"machine": machine_info(), "sampling_steps": args.steps}
    previous = json.loads(args.output.read_text()) if args.output.is_file() else {}
    cases = tuple(c for c in SUITES["full"] if c.name in CASES)
    state_dirs = sorted(args.run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if args.checkpoints:
        state_dirs = [d for d in state_dirs if int(d.name.split("-")[1]) in args.checkpoints]
    audio_dir = args.audio
    if audio_dir is None and state_dirs:
        config = json.loads((state_dirs[0] / "state.json").read_text())["extra"]["config"]
        audio_dir = Path(config["audio_encoder_path"]) if config.get("audio_encoder_path") else None
    if audio_dir is not None:
        result["audio_probe"] = audio_probe(audio_dir)
        print(json.dumps(result["audio_probe"], indent=1))
    curve = dict(previous.get("learning_curve", {}))
    for checkpoint in state_dirs:
        start = time.perf_counter()
        pipe = checkpoint_pipeline(args.run, checkpoint)
        rows = run_bench(cases, model=pipeline_model(pipe, steps=args.steps), model_name=checkpoint.name)
        step = checkpoint.name.split("-")[1]
        curve[step] = {r.name: {k: v for k, v in r.to_dict().items() if k != "cases"} for r in rows}
        curve[step]["seconds"] = time.perf_counter() - start
        print(f"step {step}\n{markdown_table(rows)}")
    result["learning_curve"] = dict(sorted(curve.items(), key=lambda kv: int(kv[0])))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from talkgen.fs import finite_json, write_json

    write_json(args.output, finite_json(result))
    print(args.output)


if __name__ == "__main__":
    main()
