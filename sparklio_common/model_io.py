"""What model resources return and the content core reads: an LLM call's cost and reply, timed words.

They live below both `resources/` and `sparklio_pipelines/` so the pure content core never imports
a resource class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class LLMCall:
    """What one generation cost: recorded next to every piece of copy."""

    model: str
    prompt_tokens: int
    output_tokens: int
    seconds: float
    # Server-side timings, where the backend reports them (Ollama; the embedded model reports its load only).
    total_seconds: float | None = None
    load_seconds: float | None = None
    prompt_eval_seconds: float | None = None
    eval_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        # Unreported timings are left out, so the embedded model's records keep their shape.
        return {k: v for k, v in asdict(self).items() if v is not None}


_SERVER_TIMINGS = ("total_seconds", "load_seconds", "prompt_eval_seconds", "eval_seconds")


def sum_calls(calls: list[LLMCall]) -> LLMCall:
    """One call's cost for several attempts (re-asks included), named after the last one's model."""
    timings = {}
    for name in _SERVER_TIMINGS:
        reported = [getattr(c, name) for c in calls if getattr(c, name) is not None]
        timings[name] = round(sum(reported), 3) if reported else None
    return LLMCall(
        model=calls[-1].model,
        prompt_tokens=sum(c.prompt_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        seconds=round(sum(c.seconds for c in calls), 3),
        **timings,
    )


@dataclass
class LLMResult:
    text: str
    data: Any | None  # parsed JSON when a schema was given
    call: LLMCall


@dataclass
class Word:
    text: str
    start: float
    end: float
    probability: float


@dataclass
class Transcript:
    words: list[Word]
    text: str
    language: str
    duration_s: float  # length of the media
    seconds: float  # wall time spent transcribing
    model: str
