"""Does the transformer use the speech? Its error on training windows with their own speech against the same windows
with another clip's speech, teacher-forced as in training.

Run: ``python benchmarks/bench_speech_reliance.py --config CONFIG --model DIR [--model DIR ...] [--batches N]
[--clips N] [--results NAME]``; writes ``benchmarks/results/NAME.json`` (default ``speech_reliance``). ``CONFIG`` is
a DiT config with a built ``latent_cache`` and ``articulation_weight`` > 0 (``configs/tiny-still-heads.yaml``);
each ``DIR`` is a pipeline folder whose transformer is measured as it is (its ``init_from``; the config's
``init_speech_gain``, which scales a transformer before training, and its ``mouth_crop`` are not applied: whole
frames, as the pipeline runs them).

For each model the same ``N`` batches of the cache's first ``--clips`` clips are drawn as a run draws them (the
config's edit and motion shares, reference dropout; text and audio dropout off), with the same noise and sigmas
twice: once with each window's own speech features, once with the batch's speech rolled by one sample (another
clip's speech at the same place). Reported: the run's loss and the clean-latent error along the lips' latent
directions on the mouth cells (``articulation_mse``), each with its own speech and with another's, and their ratio
(other / own: 1 when the speech changes nothing the loss sees, above 1 when the model relies on it); and, per
transformer block, the norm of the speech attention's output against the norm of the residual stream it is added
to (``speech_share_of_stream``, over the own-speech passes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from common import machine_info


def measure(config_path: Path, model: Path, batches: int, clips: int) -> dict:
    from talkgen.training import TrainConfig, build_task

    with tempfile.TemporaryDirectory(prefix="talkgen-reliance-") as tmp:
        config = TrainConfig.from_yaml(config_path).replace(
            output_dir=tmp, init_from=str(model), resume_from=None, latent_cache_clips=clips,
            text_dropout=0.0, audio_dropout=0.0, text_only_share=0.0,
            init_speech_gain=1.0, mouth_crop=0,  # the folder's transformer as it is, on whole frames
        )  # fmt: skip
        if config.articulation_weight <= 0:
            raise SystemExit(f"{config_path}: set articulation_weight > 0 (the lips' directions are measured)")
        task = build_task(config)
        task.module.eval()
        norms, hooks = _stream_hooks(task.module.transformer)
        stream = task.batches(0, 0, 1)
        sums = {"own": {"loss": 0.0, "articulation_mse": 0.0}, "other": {"loss": 0.0, "articulation_mse": 0.0}}
        wins = 0
        with torch.no_grad():
            for i in range(batches):
                batch = next(stream)
                other = dict(batch, audio_features=batch["audio_features"].roll(1, dims=0))
                scores = {}
                for name, b in (("own", batch), ("other", other)):
                    norms["on"] = name == "own"
                    loss, extras = task.loss(task.module, b, torch.Generator().manual_seed(1_000 + i))
                    scores[name] = (float(loss), float(extras["articulation_mse"]))
                    sums[name]["loss"] += scores[name][0] / batches
                    sums[name]["articulation_mse"] += scores[name][1] / batches
                wins += scores["own"][1] < scores["other"][1]
        for hook in hooks:
            hook.remove()
    ratio = {key: round(sums["other"][key] / sums["own"][key], 4) for key in ("loss", "articulation_mse")}
    rounded = {name: {k: round(v, 4) for k, v in values.items()} for name, values in sums.items()}
    share = [round(speech / stream, 4) for speech, stream in zip(norms["speech"], norms["stream"], strict=True)]
    return {
        "model": str(model),
        **rounded,
        "other_over_own": ratio,
        "batches_own_speech_better": f"{wins}/{batches}",
        "speech_share_of_stream": share,
    }


def _stream_hooks(transformer) -> tuple[dict, list]:
    """Forward hooks summing, per block, the speech attention's output norm and the block's input (residual) norm."""
    blocks = list(transformer.blocks)
    norms = {"on": False, "speech": [0.0] * len(blocks), "stream": [0.0] * len(blocks)}

    def add(key, i, tensor):
        if norms["on"]:
            norms[key][i] += float(tensor.float().norm())

    hooks = []
    for i, block in enumerate(blocks):
        hooks.append(block.register_forward_hook(lambda m, args, out, i=i: add("stream", i, args[0])))
        if block.audio_attn is not None:
            hooks.append(block.audio_attn.register_forward_hook(lambda m, args, out, i=i: add("speech", i, out)))
    return norms, hooks


def main(config: Path, models: list[Path], batches: int, clips: int, results: str) -> dict:
    torch.set_num_threads(2)
    start = time.perf_counter()
    rows = [measure(config, model, batches, clips) for model in models]
    out = {
        "machine": machine_info(),
        "config": str(config),
        "clips": clips,
        "batches": batches,
        "models": rows,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(out, indent=1))
    (Path(__file__).resolve().parent / "results" / f"{results}.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="a DiT config with a built latent cache")
    parser.add_argument("--model", type=Path, action="append", required=True, help="a pipeline folder (repeatable)")
    parser.add_argument("--batches", type=int, default=16, help="batches drawn per model")
    parser.add_argument("--clips", type=int, default=32, help="the cache's first N clips (a multiple of 32)")
    parser.add_argument("--results", default="speech_reliance", help="results file (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    main(args.config, args.model, args.batches, args.clips, args.results)
