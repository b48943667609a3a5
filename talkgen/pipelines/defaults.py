"""The sampling defaults users run (``talkgen generate``, ``talkgen dub``, the app, the API, the bench's model rows),
in one place. Chosen by measurement on the shipped model (``benchmarks/bench_defaults.py``, table in
``benchmarks/README.md``): for scene generation every guided candidate (joint CFG 1.5-3, audio-only CFG 2, text 3 /
audio 5, the HuMo schedule) scored worse lip sync than unguided sampling, and 4 unguided steps were both the best
and the fastest (0.63 s of compute per video second); for dubbing 8 steps with OmniSync's DS-CFG (peak 4) gave the
best sync correlation, and once dubs ran in face crops, unguided dubbing (one pass per step) matched it (pair 0.595
vs 0.598, two-shot 0.557 vs 0.555, attribution 0.91 both) in 0.56x the time, so dubs are unguided too. A take's
first frame, drawn by the keyframe transformer, was chosen at 4 steps with text guidance 3 (part 1's weights:
attributes 0.381, 8 steps 0.405 in 1.7x the time, unguided 0.310; part 2's, shipped: 0.405, 8 steps 0.405, unguided
0.429, one hit of 42 more; ``benchmarks/bench_keyframe.py``). The
HuMo schedule and OmniSync's DS-CFG stay one setting away (``GuidanceConfig()``, ``DSCFGConfig()``). No imports: the
light settings modules read these too."""

GENERATE_STEPS = 4  # sampling steps per window of a scene
GENERATE_GUIDANCE = (1.0, 1.0)  # (text, audio) scales, constant over sigma: 1.0 is unguided (one pass per step)
DUB_STEPS = 8  # sampling steps of a dub (from sigma = strength down)
DUB_GUIDANCE = (1.0, 1.0, 0.0)  # DS-CFG (w_peak, w_base, gamma): a constant 1 is unguided (one pass per step)
KEYFRAME_STEPS = 4  # sampling steps of a take's first frame (pipelines with a keyframe transformer) ...
KEYFRAME_TEXT_SCALE = 3.0  # ... and its text guidance: the best prompt read-back of benchmarks/bench_keyframe.py
MAX_KEYFRAME_DRAWS = 16  # most keyframes a take may draw to pick from: each costs a keyframe's steps
FACE_CROP = 0.7  # dubs: a face fills this share of its crop's side (benchmarks/bench_face_crop.py)
