"""Per-class fuzz table: `.venv/bin/python -m tests.fuzz.report [EXAMPLES_PER_CLASS]` (default 300).

Prints: class | inputs | valid | clear errors | crashes, then the first crash of each class if any.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz.bad_inputs import CLASSES, BadInputClass


def tally(bad_input: BadInputClass, examples: int) -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    crashes: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(bad_input.strategy)
    def record(value):
        outcome = bad_input.check(value)
        counts[outcome.kind] += 1
        if outcome.kind == "crash":
            crashes.append(outcome.detail)

    record()
    return counts, crashes


def main(examples: int) -> int:
    rows, details, started = [], [], time.perf_counter()
    for bad_input in CLASSES:
        counts, crashes = tally(bad_input, examples)
        rows.append((bad_input.name, sum(counts.values()), counts["valid"], counts["clear"], counts["crash"]))
        details += [f"{bad_input.name}: {c}" for c in crashes[:1]]
    print("| class | inputs | valid | clear errors | crashes |")
    print("|---|---:|---:|---:|---:|")
    for name, *numbers in rows:
        print(f"| {name} | " + " | ".join(f"{n:,}" for n in numbers) + " |")
    totals = [sum(r[i] for r in rows) for i in range(1, 5)]
    print("| **all** | " + " | ".join(f"**{n:,}**" for n in totals) + " |")
    print(f"\n{examples} examples asked per class; {time.perf_counter() - started:.1f} s")
    for line in details:
        print("crash:", line)
    return 1 if totals[3] else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
