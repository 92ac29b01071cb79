"""Where Sparklio needs Dagster behaviour that has no public API (dagster==1.13.27, dagster-celery==0.29.27,
pinned in pyproject.toml). Nothing else in the product imports `dagster._` (tests/test_layering.py).

- `executors`: the pool-aware in-process executor and the Celery lost-worker watch.
- `run_launcher`: the run launcher that tells run monitoring whether a run's worker still lives. It imports
  only Dagster, so the Mac mini's webserver and daemon load it without Sparklio's dependencies.

Canaries that fail once upstream changes: tests/integration/test_in_process_executor.py,
test_celery_executor.py and tests/unit/test_run_launcher.py.
"""
