"""The copy decks of both sample briefs on the embedded default model, with the claims the guard
refused while writing them and the unsupported claims left in the stored deck (must be none).

Run: `python -m tests.integration.embedded_decks [OUT_DIR [BRIEF.yaml ...]]` (default: both sample
briefs); each deck is written to OUT_DIR/<campaign>.txt as readable text, field by field, as soon
as it is done; progress goes to stderr.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

from sparklio_pipelines.content.brief.parse import load_brief
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.copy.claims import claims_problems
from sparklio_pipelines.content.copy.generate import generate_copy
from sparklio_pipelines.content.copy.limits import limit_problems
from sparklio_pipelines.content.copy.schemas import CopyDeck
from sparklio_pipelines.content.quality import iter_variants, variant_texts

BRIEFS = Path(__file__).resolve().parents[2] / "examples" / "briefs"
SAMPLE_BRIEFS = ("hanbit-tea-ko.yaml", "glow-serum-en.yaml")


def deck_text(deck: CopyDeck, brief: Brief) -> str:
    """The whole deck, one labelled field per line, then what the guard refused."""
    lines = [f"# {deck.campaign_id}: model {deck.model}, seed {deck.seed}", ""]
    for language, channel, variant in iter_variants(deck):
        lines.append(f"## {language}/{channel}/{variant.variant}")
        lines += [f"{field}: {text}" for field, text in variant_texts(variant).items()]
        lines.append("")
    lines.append(f"## refused during generation: {len(deck.refused_claims)} claims")
    lines += [f"- {c.language}/{c.channel}/{c.variant}/{c.field}: {c.kind} {c.words!r}" for c in deck.refused_claims]
    problems = claims_problems(deck, brief)
    lines += ["", f"## unsupported claims in the stored deck: {len(problems)}", *problems]
    return "\n".join(lines) + "\n"


def main(out_dir: Path, brief_files: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from resources.llm import EmbeddedLLMResource

    out_dir.mkdir(parents=True, exist_ok=True)
    llm = EmbeddedLLMResource()
    rows = []
    failed = False
    for name in brief_files:
        brief = load_brief(BRIEFS / name)
        started = time.perf_counter()
        deck = generate_copy(brief, llm, variants=2, seed=0, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        seconds = time.perf_counter() - started
        (out_dir / f"{deck.campaign_id}.txt").write_text(deck_text(deck, brief))
        left, limits = claims_problems(deck, brief), limit_problems(deck)
        failed |= bool(left or limits)
        kinds = Counter(c.kind for c in deck.refused_claims)
        rows.append((deck.campaign_id, len(deck.calls), len(deck.refused_claims), dict(kinds), len(left), len(limits),
                     seconds))
    llm.release()
    print(f"{'campaign':<20}{'calls':>6}{'refused':>8}  {'refused by kind':<42}{'left':>5}{'limits':>7}{'seconds':>9}")
    for campaign, calls, refused, kinds, left, limits, seconds in rows:
        print(f"{campaign:<20}{calls:>6}{refused:>8}  {str(kinds):<42}{left:>5}{limits:>7}{seconds:>9.1f}")
    print(f"decks written to {out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "decks"), sys.argv[2:] or list(SAMPLE_BRIEFS)))
