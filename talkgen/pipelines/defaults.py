"""The sampling defaults users run (``talkgen generate``, ``talkgen dub``, the app, the API, the bench's model rows),
in one place. Chosen by measurement on the shipped model: ``benchmarks/bench_defaults.py`` and its table in
``benchmarks/README.md``. No imports: the light settings modules read these too."""

GENERATE_STEPS = 20  # sampling steps per window of a scene
DUB_STEPS = 20  # sampling steps of a dub (from sigma = strength down)
