"""A campaign run in a process of its own, so a fault scenario can SIGKILL the run mid-step.

    python -m tests.faults.child_run INSTANCE_REF_JSON CAMPAIGN_ID ASSET[,ASSET...] [--crash-after-put KEY_SUFFIX]

The run uses the parent's Dagster instance (a serialized InstanceRef) and the product's resources
from the inherited environment. `--crash-after-put` makes the process SIGKILL itself right after the
S3 request that uploads the body of the object whose key ends with KEY_SUFFIX: a crash in the middle
of an object write, at a point no outside timer could hit reliably.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def crash_after_put(key_suffix: str) -> None:
    import botocore.client

    original = botocore.client.BaseClient._make_api_call
    armed = {"on": False}

    def make_api_call(self, operation_name, api_params):
        key = str(api_params.get("Key", ""))
        if operation_name == "HeadObject" and key.endswith(key_suffix):
            armed["on"] = True  # the store checks the target first; the next upload is its body
        result = original(self, operation_name, api_params)
        if armed["on"] and operation_name in ("PutObject", "CompleteMultipartUpload"):
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    botocore.client.BaseClient._make_api_call = make_api_call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.child_run")
    parser.add_argument("instance_ref")
    parser.add_argument("campaign_id")
    parser.add_argument("assets")
    parser.add_argument("--crash-after-put", default=None)
    args = parser.parse_args(argv)

    import dagster as dg
    from dagster import deserialize_value
    from dagster._core.instance.ref import InstanceRef

    from tests.faults.harness import run_campaign

    if args.crash_after_put:
        crash_after_put(args.crash_after_put)
    ref = deserialize_value(Path(args.instance_ref).read_text(), InstanceRef)
    with dg.DagsterInstance.from_ref(ref) as instance:
        result = run_campaign(instance, args.campaign_id, tuple(args.assets.split(",")))
        print(f"run {result.run_id} success={result.success}", flush=True)
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
