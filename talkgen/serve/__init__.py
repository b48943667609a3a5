"""talkgen.serve: the batch API for studios.

Modules: :mod:`~talkgen.serve.ledger` (durable SQLite job ledger), :mod:`~talkgen.serve.store` (content-addressed
outputs), :mod:`~talkgen.serve.jobs` (job-kind registry), :mod:`~talkgen.serve.worker` (claim/heartbeat/commit
loop), :mod:`~talkgen.serve.executors` (local spawned processes, Ray actors), :mod:`~talkgen.serve.webhooks`,
:mod:`~talkgen.serve.api` (FastAPI app, ``create_app``/``serve``), :mod:`~talkgen.serve.client` (HTTP client).
Nothing heavy is imported here.
"""
