"""The reliability table: one row per fault scenario and per bad-input class.

    .venv/bin/python -m tests.faults.report --run        # run tests/faults, then print the table
    .venv/bin/python -m tests.faults.report              # print it from the last run's results
    .venv/bin/python -m tests.faults.report --soak 20 --seed 7   # the soak (tests/faults/soak.py)

Fault rows come from the JSON each scenario in tests/faults writes ($SPARKLIO_FAULT_RESULTS_DIR,
default .sparklio/fault-results/); bad-input rows from the fuzz classes of tests/fuzz (Hypothesis,
`--fuzz-examples` per class). Exit status 1 when anything is lost, duplicated or orphaned, a campaign
is left incomplete, a failure is unclear, or an input crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from sparklio_common.settings import REPO_ROOT
from tests.faults.harness import RESULTS_ENV, results_dir

# The scenarios of test_fault_scenarios.py, in the order the table lists them.
SCENARIOS = (
    "ollama_refused", "ollama_500", "ollama_hang", "ollama_malformed_json", "ollama_down_mid_backfill",
    "comfyui_500", "comfyui_websocket_drop", "s3_killed", "run_killed_mid_step", "run_killed_mid_write",
)
HEADER = ("| kind | scenario / class | runs | faults injected | campaigns completed | lost / duplicated / orphaned "
          "| crashes | clear-error rate |")


def rate(clear: int, total: int) -> str:
    return f"{clear}/{total} (100%)" if total and clear == total else (
        f"{clear}/{total} ({100 * clear / total:.0f}%)" if total else "— (no failures)")


def fault_rows(directory) -> tuple[list[str], list[str], bool]:
    rows, notes, ok = [], [], True
    found = {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}
    for name in [*SCENARIOS, *sorted(set(found) - set(SCENARIOS))]:
        row = found.get(name)
        if row is None:
            rows.append(f"| fault | {name} | — | — | not run | — | — | — |")
            ok = False
            continue
        unclear = row["failures"] - row["clear_failures"]
        bad = row["lost"] or row["duplicated"] or row["orphaned"] or row["manifest_vs_db"] or unclear
        ok = ok and not bad and row["campaigns_completed"] == row["campaigns"]
        rows.append(
            f"| fault | {name}: {row['fault']} | {row['runs']} | {row['faults_injected']} | "
            f"{row['campaigns_completed']}/{row['campaigns']} ({' → '.join(row['assets'])}) | "
            f"{row['lost']} / {row['duplicated']} / {row['orphaned']} | {unclear} | "
            f"{rate(row['clear_failures'], row['failures'])} |"
        )
        cpu = f", {row['cpu_seconds']} s CPU" if "cpu_seconds" in row else ""
        notes.append(f"{name}: {row['seconds']} s wall{cpu}, retry delay {row['retry_delay_s']} s")
    return rows, notes, ok


def fuzz_rows(examples: int) -> tuple[list[str], bool]:
    from tests.fuzz.bad_inputs import CLASSES
    from tests.fuzz.report import tally

    rows, ok = [], True
    for bad_input in CLASSES:
        counts, crashes = tally(bad_input, examples)
        inputs = sum(counts.values())
        ok = ok and not counts["crash"]
        failures = counts["clear"] + counts["crash"]
        rows.append(f"| bad input | {bad_input.name} | {inputs:,} | {inputs:,} | — ({counts['valid']:,} valid) "
                    f"| — | {counts['crash']} | {rate(counts['clear'], failures)} |")
        rows += [f"<!-- crash: {bad_input.name}: {c[:300]} -->" for c in crashes[:1]]
    return rows, ok


def run_suite(directory) -> int:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    env = {**os.environ, RESULTS_ENV: str(directory)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"],
                          cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    closing = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    print(f"pytest tests/faults: {closing[-1] if closing else done.returncode} "
          f"({time.perf_counter() - started:.0f} s wall)\n")
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.report", description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="store_true", help="run tests/faults first (about 10 minutes)")
    parser.add_argument("--fuzz-examples", type=int, default=300, help="Hypothesis examples per bad-input class")
    parser.add_argument("--soak", type=int, metavar="N", help="soak N campaigns with seeded faults; print its table")
    parser.add_argument("--seed", type=int, default=1, help="the soak's fault schedule seed")
    parser.add_argument("--soak-minutes", type=float, default=None, help="start no new soak batch after this long")
    args = parser.parse_args(argv)
    if args.soak:
        from tests.faults.soak import run_soak, soak_table

        started = time.perf_counter()
        budget = args.soak_minutes * 60 if args.soak_minutes else None
        lines, ok = soak_table(run_soak(args.soak, args.seed, budget_s=budget), args.seed)
        print("\n".join(lines) + f"\n\nSoak took {time.perf_counter() - started:.0f} s wall.")
        return 0 if ok else 1

    directory = results_dir()
    suite_status = run_suite(directory) if args.run else 0
    faults, notes, faults_ok = fault_rows(directory)
    fuzz, fuzz_ok = fuzz_rows(args.fuzz_examples)
    print(HEADER)
    print("|---|---|---:|---:|---|---|---:|---|")
    for line in [*faults, *fuzz]:
        print(line)
    print(f"\nFault results from {directory}; {args.fuzz_examples} Hypothesis examples asked per bad-input class.")
    for note in notes:
        print(f"- {note}")
    return 0 if suite_status == 0 and faults_ok and fuzz_ok else 1


if __name__ == "__main__":
    sys.exit(main())
