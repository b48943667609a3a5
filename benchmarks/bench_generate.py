"""Benchmark: talking-character generation on CPU, in seconds of compute per second of video, per stage.

Renders the two-person sample scene (samples/scenes/dialogue.yaml) with the shipped model (random ``tiny`` weights
where none is installed: an untrained model costs the same), 128x128 at 25 fps, at ``talkgen generate``'s default
steps and guidance, and times each stage: TTS, text + audio encoding, drawing each take's first frame (a pipeline with
a keyframe transformer), denoising, decoding, re-timing the generated mouths to the speech (a pipeline with a mouth
head and a mouth locator) and muxing; with the shipped
model also ``generate_scene_file`` end to end, as ``talkgen generate`` runs it. Baselines in the same run: the
decode with ATen's own dispatch, the denoising step with the three guidance passes batched into one forward against
one forward per pass, sampling without guidance, and the keyframe stage drawing once (``keyframe_draws`` 1) where the
model's default draws several to pick from.
Writes benchmarks/results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

from talkgen.models.cpu_conv import fast_cpu_conv3d
from talkgen.pipelines.pipeline_talking import build_tiny_pipeline

SCENE = Path(__file__).resolve().parents[1] / "samples" / "scenes" / "dialogue.yaml"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _scene_stages(pipe, steps: int, size: int, guidance) -> dict:
    """Per-stage wall seconds for the two-person sample scene, and its video duration."""
    from talkgen import SPEECH_RATE
    from talkgen.media import write_video
    from talkgen.models.latents import denormalize_latents
    from talkgen.pipelines.render_plan import clip_streams, dialogue_track, line_waveforms
    from talkgen.prompts import CachedTiming, load_scene, plan_scene, speech_timing

    stages = dict.fromkeys(("plan", "tts", "encode", "keyframe", "denoise", "decode", "retime", "mux"), 0.0)
    keyframe_one_draw = 0.0
    retimes = pipe.retimes()
    decode_plain = 0.0
    start = time.perf_counter()
    plan = plan_scene(load_scene(SCENE), CachedTiming(speech_timing))
    stages["plan"] = time.perf_counter() - start
    start = time.perf_counter()
    waves = line_waveforms(plan)
    stages["tts"] = time.perf_counter() - start
    pieces = []
    for clip in plan.clips:
        _, streams = clip_streams(clip, waves)
        frames = 4 * math.ceil((clip.num_frames - 1) / 4) + 1
        need = math.ceil(frames / plan.fps * SPEECH_RATE) + 1
        streams = np.pad(streams, ((0, 0), (0, max(0, need - streams.shape[1]))))
        with torch.no_grad():
            start = time.perf_counter()
            embeds = pipe.encode_text([clip.prompt, ""], torch.device("cpu"))
            pipe.audio_encoder(torch.as_tensor(streams)[None], plan.fps, frames)
            encode = time.perf_counter() - start
            keyframe = 0.0
            if pipe.keyframe_transformer is not None:  # the call below draws the take's first frame as this does
                start = time.perf_counter()
                generator = torch.Generator().manual_seed(0)
                pipe.pick_keyframe([clip.prompt], embeds[:1], embeds[1:], size, size, generator=generator)
                keyframe = time.perf_counter() - start
                start = time.perf_counter()  # baseline: one draw, no pick (keyframe_draws 1)
                generator = torch.Generator().manual_seed(0)
                pipe.pick_keyframe(
                    [clip.prompt], embeds[:1], embeds[1:], size, size, generator=generator, keyframe_draws=1
                )
                keyframe_one_draw += time.perf_counter() - start
            start = time.perf_counter()
            latents = pipe(clip.prompt, streams, num_frames=frames, height=size, width=size, fps=plan.fps,
                           num_inference_steps=steps, guidance=guidance, output_type="latent",
                           generator=torch.Generator().manual_seed(clip.index)).frames  # fmt: skip
            stages["denoise"] += time.perf_counter() - start - encode - keyframe  # the call encodes and draws too
            stages["encode"] += encode
            stages["keyframe"] += keyframe
            start = time.perf_counter()
            with fast_cpu_conv3d():  # as the pipeline decodes
                video = pipe.vae.decode(denormalize_latents(pipe.vae, latents), return_dict=False)[0]
            stages["decode"] += time.perf_counter() - start
            if retimes:  # as the call does after decoding (with the speech features it already has)
                features = pipe.encode_audio(streams, 1, plan.fps, frames, torch.device("cpu"))
                start = time.perf_counter()
                video = pipe.retime_mouths(video, torch.as_tensor(streams)[None], features, plan.fps)
                stages["retime"] += time.perf_counter() - start
            start = time.perf_counter()
            pieces.append(pipe.video_processor.postprocess_video(video, output_type="np")[0][: clip.num_frames])
            stages["decode"] += time.perf_counter() - start
            start = time.perf_counter()
            pipe.vae.decode(denormalize_latents(pipe.vae, latents), return_dict=False)  # baseline: ATen's dispatch
            decode_plain += time.perf_counter() - start
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_video(Path(tmp) / "scene.mp4", np.concatenate(pieces), plan.fps, dialogue_track(plan, waves))
    stages["mux"] = time.perf_counter() - start
    return {
        "video_s": plan.duration, "clips": len(plan.clips), "stages_s": stages, "decode_plain_s": decode_plain,
        "keyframe_one_draw_s": keyframe_one_draw, "keyframe_draws": pipe.resolved_keyframe_draws(),
    }  # fmt: skip


def main(steps: int | None = None, size: int = 128, fps: float = 25.0, model: Path | None = None) -> dict:
    from talkgen.pipelines.generate import GenerateOptions, generate_scene_file
    from talkgen.pipelines.loading import default_model_dir, load_pipeline
    from talkgen.pipelines.render_plan import SceneRenderConfig

    torch.set_num_threads(min(2, torch.get_num_threads()))
    defaults = GenerateOptions()
    steps = defaults.steps if steps is None else steps
    guidance = SceneRenderConfig().guidance
    shipped = model is not None or default_model_dir() is not None
    pipe = load_pipeline("talking", model)[0] if shipped else build_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    scene = _scene_stages(pipe, steps, size, guidance)
    video_s = scene["video_s"]
    per_video_s = {k: round(v / video_s, 3) for k, v in scene["stages_s"].items()}
    end_to_end = None
    if shipped and steps == defaults.steps:  # `talkgen generate SCENE` exactly as a user runs it
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_scene_file(SCENE, Path(tmp) / "scene.mp4", GenerateOptions(model=model))
            end_to_end = time.perf_counter() - start

    num_frames = 4 * round(fps / 4) + 1
    audio = (np.random.default_rng(0).standard_normal((1, int(16_000 * 1.2))) * 0.1).astype(np.float32)
    channels = pipe.transformer.config.in_channels
    latents = torch.randn(1, channels, (num_frames - 1) // 4 + 1, size // 8, size // 8)
    text = pipe.encode_text(["a person talks"], torch.device("cpu"))
    empty = pipe.encode_text([""], torch.device("cpu"))
    feats = pipe.audio_encoder(torch.as_tensor(audio)[None], fps, num_frames)
    t = torch.tensor([500.0])
    with torch.no_grad():
        step = {
            batched: min(
                _timed(lambda b=batched: pipe.guided_velocity(latents, t, 5.0, 4.0, text, empty, feats, batched=b))
                for _ in range(3)
            )
            for batched in (True, False)
        }
        plain = min(_timed(lambda: pipe.guided_velocity(latents, t, 1.0, 1.0, text, empty, feats)) for _ in range(3))
    # What one look-up of the transformer's device and dtype costs (diffusers walks every module for casting hooks):
    # a forward did five pairs and two more dtypes before they were looked up once per condition embedding.
    lookup = min(_timed(lambda: (pipe.transformer.device, pipe.transformer.dtype)) for _ in range(20))
    result = {
        "machine": machine_info(),
        "config": {"model": str(model or default_model_dir()) if shipped else "random tiny weights",
                   "scene": "samples/scenes/dialogue.yaml", "size": size, "fps": fps, "steps": steps,
                   "guidance": vars(guidance)},
        "end_to_end_s_per_video_s": None if end_to_end is None else round(end_to_end / video_s, 2),
        "scene_video_s": round(video_s, 2),
        "scene_clips": scene["clips"],
        "compute_s_per_video_s": per_video_s,
        "total_compute_s_per_video_s": round(sum(scene["stages_s"].values()) / video_s, 2),
        "decode_plain_s_per_video_s": round(scene["decode_plain_s"] / video_s, 3),
        "keyframe_draws": scene["keyframe_draws"],
        "keyframe_one_draw_s_per_video_s": round(scene["keyframe_one_draw_s"] / video_s, 3),
        "step_batched_s": round(step[True], 4),
        "step_unbatched_s": round(step[False], 4),
        "batched_speedup": round(step[False] / step[True], 2),
        "step_no_guidance_s": round(plain, 4),
        "placement_lookup_ms": round(lookup * 1000, 2),
        "target": "<= 2 s of compute per second of video (CPU, 2 cores, 128x128 @ 25 fps)",
    }  # fmt: skip
    out = Path(__file__).parent / "results" / "generate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="default: talkgen generate's default")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--model", type=Path, default=None, help="default: models/talkgen-tiny (else random weights)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger(__name__).info(json.dumps(main(args.steps, args.size, model=args.model), indent=1))
