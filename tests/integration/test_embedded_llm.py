"""The real embedded model (Gemma 3 270M base, llama.cpp): JSON mode, metadata and full copy decks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

from resources.llm import EmbeddedLLMResource, LLMOutputError, default_gguf_path  # noqa: E402
from sparklio_pipelines.content.brief.parse import load_brief
from sparklio_pipelines.content.copy.claims import claims_problems
from sparklio_pipelines.content.copy.generate import generate_copy
from sparklio_pipelines.content.copy.limits import limit_problems

BRIEFS = Path(__file__).resolve().parents[2] / "examples" / "briefs"


@pytest.fixture(scope="module")
def llm():
    resource = EmbeddedLLMResource()
    yield resource
    resource.release()


def test_model_is_assembled_once_into_models_dir():
    path = default_gguf_path()
    assert path.is_file() and path.stat().st_size > 100_000_000
    assert default_gguf_path() == path
    assert not list(path.parent.glob(".*.tmp"))


def test_raw_completion_records_tokens_and_seconds(llm):
    result = llm.generate("The capital of France is", max_tokens=8, temperature=0.0, seed=1)
    assert result.text.strip()
    assert result.data is None
    assert result.call.model == "gemma-3-270m-q4_k_m.gguf"
    assert result.call.prompt_tokens >= 5 and 1 <= result.call.output_tokens <= 8
    assert result.call.seconds > 0


def test_same_seed_same_text(llm):
    a = llm.generate("A short poem about tea:", max_tokens=16, seed=42).text
    b = llm.generate("A short poem about tea:", max_tokens=16, seed=42).text
    assert a == b


def test_json_schema_reply_is_valid_json(llm):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 20},
            "colors": {"type": "array", "items": {"type": "string", "maxLength": 10}, "minItems": 2, "maxItems": 3},
        },
        "required": ["name", "colors"],
        "additionalProperties": False,
    }
    # Grammar-constrained sampling scans the whole 262k vocabulary per token: keep replies short.
    result = llm.generate("A product and its colors as JSON:", schema, max_tokens=48, seed=3)
    assert isinstance(result.data, dict)
    assert 1 <= len(result.data["name"]) <= 20 and 2 <= len(result.data["colors"]) <= 3
    assert result.call.output_tokens > 0


def test_schema_too_tight_for_max_tokens_raises_output_error(llm):
    schema = {"type": "object", "properties": {"text": {"type": "string", "minLength": 200}}, "required": ["text"]}
    with pytest.raises(LLMOutputError) as err:
        llm.generate("JSON:", schema, max_tokens=5, seed=1)
    assert err.value.raw_reply.startswith("{") and "not valid JSON" in err.value.schema_error


def test_release_frees_and_reloads(llm):
    llm.generate("Hi", max_tokens=2)
    llm.release()
    assert llm._llama is None
    assert llm.generate("Hi", max_tokens=2).call.output_tokens >= 1


@pytest.mark.parametrize("brief_file", ["glow-serum-en.yaml", "hanbit-tea-ko.yaml"])
def test_full_deck_holds_every_limit(llm, brief_file):
    brief = load_brief(BRIEFS / brief_file)
    deck = generate_copy(brief, llm, variants=2, seed=0)
    assert limit_problems(deck) == []
    assert claims_problems(deck, brief) == []  # whatever the guard refused while writing, none is left
    assert list(deck.languages) == brief.languages
    for language, channels in deck.languages.items():
        assert set(channels) == {*brief.channels, "shorts"}
        for variants in channels.values():
            assert [v.variant for v in variants] == ["A", "B"]
        a, b = channels["x"]
        assert a.text != b.text
    assert deck.calls and all(c.output_tokens > 0 and c.seconds > 0 for c in deck.calls)
