"""Run a check's judge on planted outputs, with the resources a run would give it."""

from __future__ import annotations

import inspect

import dagster as dg

from sparklio_pipelines.defs.checks import captions, copy, image, video


def judge(name: str, campaign_id: str, resources) -> dg.AssetCheckResult:
    """`judge_<name>` from the checks modules, called with the attributes of `resources` it takes."""
    for module in (copy, image, video, captions):
        fn = getattr(module, f"judge_{name}", None)
        if fn is not None:
            wanted = list(inspect.signature(fn).parameters)[1:]
            return fn(campaign_id, **{k: getattr(resources, k) for k in wanted if hasattr(resources, k)})
    raise KeyError(f"no check named {name}")
