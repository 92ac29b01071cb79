"""The Ollama LLM backend, end to end: the real OllamaLLMResource and `ollama` client over real HTTP
against tests/support/fake_ollama.py (Ollama's documented API; Ollama itself needs the GPU box)."""

from __future__ import annotations

import json
import time

import httpx
import jsonschema
import pytest

from resources.llm import EmbeddedLLMResource, LLMError, LLMOutputError
from resources.ollama_llm import (
    OllamaLLMResource,
    OllamaModelMissingError,
    OllamaRequestError,
    OllamaUnavailableError,
)
from sparklio_common.errors import PermanentServiceError, TransientServiceError
from sparklio_common.model_io import LLMCall
from tests.support.fake_ollama import FakeOllama, ScriptedError, schema_instance, tokens

DRAFT, FINAL = "qwen2.5:7b", "qwen2.5:14b"

HEADLINES = {
    "type": "object",
    "properties": {
        "headlines": {"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 60},
                      "minItems": 2, "maxItems": 3},
        "tone": {"enum": ["warm", "bold", "calm"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 10},
    },
    "required": ["headlines", "tone", "score"],
    "additionalProperties": False,
}


@pytest.fixture()
def fake():
    server = FakeOllama(models=[DRAFT, FINAL]).start()
    yield server
    server.stop()


@pytest.fixture()
def llm(fake):
    resource = OllamaLLMResource(host=fake.url, draft_model=DRAFT, final_model=FINAL, timeout_seconds=5)
    yield resource
    resource.release()


def generate_bodies(fake: FakeOllama, with_prompt: bool = True) -> list[dict]:
    return [b for b in fake.bodies("/api/generate") if bool(b.get("prompt")) == with_prompt]


# --- structured output -----------------------------------------------------------------------


def test_schema_is_sent_as_format_and_reply_is_validated(fake, llm):
    result = llm.generate("Three headlines for barley tea as JSON.", HEADLINES, max_tokens=120,
                          temperature=0.3, seed=11, stop=["\n\n"])

    jsonschema.validate(result.data, HEADLINES)
    assert result.data == json.loads(result.text)
    (body,) = generate_bodies(fake)
    assert body["model"] == DRAFT
    assert body["format"] == HEADLINES
    assert body["stream"] is False
    assert body["keep_alive"] == "5m"
    assert body["options"] == {"num_ctx": 16384, "num_predict": 120, "temperature": 0.3, "seed": 11, "stop": ["\n\n"]}


def test_invalid_json_is_reasked_then_raises_with_raw_reply_and_reason(fake, llm):
    fake.responder = lambda body: '{"headlines": ["cut short'
    with pytest.raises(LLMOutputError) as info:
        llm.generate("JSON please", HEADLINES, max_tokens=20, seed=5)

    assert info.value.raw_reply == '{"headlines": ["cut short'
    assert "not valid JSON" in info.value.schema_error
    attempts = generate_bodies(fake)
    assert len(attempts) == llm.max_json_retries + 1
    # every re-ask still sends the schema, with a new seed (the same seed repeats the same reply)
    assert all(b["format"] == HEADLINES for b in attempts)
    assert len({b["options"]["seed"] for b in attempts}) == len(attempts)


def test_reply_not_matching_schema_names_the_field(fake, llm):
    fake.responder = lambda body: json.dumps({"headlines": ["ok headline", "second one"], "tone": "angry", "score": 3})
    with pytest.raises(LLMOutputError) as info:
        llm.generate("JSON please", HEADLINES, seed=1)
    assert "at tone" in info.value.schema_error
    assert '"angry"' in info.value.raw_reply


def test_reask_recovers_and_sums_the_cost_of_every_attempt(fake, llm):
    replies = iter(["not json at all", json.dumps(schema_instance(HEADLINES))])
    fake.responder = lambda body: next(replies)
    result = llm.generate("JSON please", HEADLINES, seed=2)

    jsonschema.validate(result.data, HEADLINES)
    bodies = generate_bodies(fake)
    assert len(bodies) == 2
    prompt_tokens = len(tokens("JSON please"))
    assert result.call.prompt_tokens == 2 * prompt_tokens
    assert result.call.output_tokens == len(tokens("not json at all")) + len(tokens(result.text))
    assert result.call.total_seconds is not None and result.call.total_seconds > 0


# --- options, metadata, draft vs final --------------------------------------------------------


def test_metadata_has_token_counts_and_server_durations(fake, llm):
    fake.latency = 0.2  # the server's own timings must include it
    result = llm.generate("Write one short line about barley tea", max_tokens=64)
    call = result.call

    assert call.model == DRAFT
    assert call.prompt_tokens == len(tokens("Write one short line about barley tea")) == 7
    assert call.output_tokens == len(tokens(result.text)) > 0
    assert call.total_seconds >= 0.2 * 0.9  # ns from Ollama, converted to seconds
    assert call.load_seconds > 0 and call.prompt_eval_seconds > 0 and call.eval_seconds > 0
    assert call.seconds >= 0.2  # wall clock, client side
    record = call.to_dict()
    assert {"total_seconds", "load_seconds", "prompt_eval_seconds", "eval_seconds"} <= record.keys()


def test_embedded_call_records_keep_their_shape():
    # the embedded model reports no server timings: its records have exactly the old four fields
    assert LLMCall("gemma", 3, 4, 0.5).to_dict() == {"model": "gemma", "prompt_tokens": 3,
                                                    "output_tokens": 4, "seconds": 0.5}


def test_num_predict_and_stop_reach_the_server(fake, llm):
    fake.responder = lambda body: "one two three four five six\nsecond line"
    short = llm.generate("count", max_tokens=3)
    assert short.text == "one two three"
    assert short.call.output_tokens == 3
    line = llm.generate("count", max_tokens=50, stop=["\n"])
    assert line.text == "one two three four five six"


def test_final_pass_uses_the_final_model(fake, llm):
    draft = llm.generate("draft it", max_tokens=16)
    final = llm.generate("polish it", max_tokens=16, final=True)
    structured = llm.generate("polish as JSON", HEADLINES, final=True)

    assert draft.call.model == DRAFT
    assert final.call.model == FINAL and structured.call.model == FINAL
    assert [b["model"] for b in generate_bodies(fake)] == [DRAFT, FINAL, FINAL]
    assert llm.model_label == f"ollama:{DRAFT}|{FINAL}"


# --- release -----------------------------------------------------------------------------------


def test_release_unloads_every_model_used(fake, llm):
    llm.generate("draft", max_tokens=8)
    llm.generate("final", max_tokens=8, final=True)
    assert fake.loaded_models() == sorted([DRAFT, FINAL])

    llm.release()

    ps = httpx.get(f"{fake.url}/api/ps").json()
    assert ps == {"models": []}
    unloads = fake.bodies("/api/chat")  # Ollama's documented unload: no messages, keep_alive 0
    assert sorted(b["model"] for b in unloads) == sorted([DRAFT, FINAL])
    assert all(b["keep_alive"] == 0 and b["messages"] == [] for b in unloads)
    # the next call loads the model again
    assert llm.generate("again", max_tokens=4).call.output_tokens > 0
    assert fake.loaded_models() == [DRAFT]


def test_release_with_ollama_down_does_not_raise_and_retries_later(fake, llm):
    llm.generate("draft", max_tokens=8)
    fake.refuse_connections()
    llm.release()  # logged, not raised: the step already has its text
    fake.accept_connections()
    assert fake.loaded_models() == [DRAFT]
    llm.release()
    assert fake.loaded_models() == []


def test_release_before_any_call_sends_nothing(fake, llm):
    llm.release()
    assert fake.count() == 0


# --- errors: permanent vs transient ------------------------------------------------------------


def test_missing_model_is_permanent_and_says_ollama_pull(fake):
    llm = OllamaLLMResource(host=fake.url, draft_model="llama3.2:1b", final_model=FINAL, timeout_seconds=5)
    with pytest.raises(OllamaModelMissingError) as info:
        llm.generate("hello", max_tokens=4)

    err = info.value
    assert isinstance(err, PermanentServiceError) and isinstance(err, LLMError)
    assert not isinstance(err, TransientServiceError)
    assert "llama3.2:1b" in str(err)
    assert "ollama pull llama3.2:1b" in str(err)
    assert "GPU desktop" in str(err)
    assert err.model == "llama3.2:1b"
    llm.release()
    # found missing in /api/tags before any inference: nothing was loaded, so nothing to unload
    assert fake.count("/api/tags") == 1
    assert fake.count("/api/generate") == fake.count("/api/chat") == 0


def test_a_model_deleted_after_the_tags_check_still_says_ollama_pull(fake, llm):
    llm.generate("hello", max_tokens=4)
    fake.models.discard(FINAL)  # `ollama rm` on the desktop mid-run
    with pytest.raises(OllamaModelMissingError, match=f"ollama pull {FINAL}"):
        llm.generate("polish", max_tokens=4, final=True)


def test_server_errors_are_transient_and_the_next_call_succeeds(fake, llm):
    fake.fail_next(1, status=500, message="llama runner process has terminated: signal: killed")
    with pytest.raises(OllamaUnavailableError) as info:
        llm.generate("hello", max_tokens=4)
    assert isinstance(info.value, TransientServiceError) and isinstance(info.value, LLMError)
    assert "llama runner process has terminated" in str(info.value)
    assert "HTTP 500" in str(info.value)
    assert llm.generate("hello", max_tokens=4).text


@pytest.mark.parametrize("status", [429, 502, 503])
def test_overload_statuses_are_transient(fake, llm, status):
    fake.fail_next(1, status=status, message="server busy, please try again")
    with pytest.raises(TransientServiceError, match=f"HTTP {status}"):
        llm.generate("hello", max_tokens=4)


def test_other_client_errors_are_permanent(fake, llm):
    def reject(body):
        raise ScriptedError(400, "invalid options: num_ctx")

    fake.responder = reject
    with pytest.raises(OllamaRequestError) as info:
        llm.generate("hello", max_tokens=4)
    assert isinstance(info.value, PermanentServiceError) and isinstance(info.value, LLMError)
    assert "invalid options: num_ctx" in str(info.value) and "HTTP 400" in str(info.value)


def test_refused_connection_is_transient(fake, llm):
    fake.refuse_connections()
    with pytest.raises(TransientServiceError, match="connection refused"):
        llm.generate("hello", max_tokens=4)
    fake.accept_connections()
    assert llm.generate("hello", max_tokens=4).text


def test_connection_dropped_mid_request_is_transient(fake, llm):
    fake.drop_next(1)
    with pytest.raises(TransientServiceError):
        llm.generate("hello", max_tokens=4)
    assert llm.generate("hello", max_tokens=4).text


def test_timeout_is_transient_and_does_not_wait_for_the_hang(fake):
    llm = OllamaLLMResource(host=fake.url, draft_model=DRAFT, final_model=FINAL, timeout_seconds=1)
    fake.hang_next(1, seconds=10)
    started = time.perf_counter()
    with pytest.raises(TransientServiceError, match="did not answer within 1 s"):
        llm.generate("hello", max_tokens=4)
    assert time.perf_counter() - started < 5


def test_malformed_reply_body_is_transient(fake, llm):
    fake.malformed_next(1)
    with pytest.raises(TransientServiceError, match="malformed reply"):
        llm.generate("hello", HEADLINES)
    assert llm.generate("hello", HEADLINES).data is not None


# --- selection from the environment ------------------------------------------------------------


def test_ollama_host_selects_the_ollama_backend(fake, monkeypatch):
    from sparklio_pipelines.defs.resources import llm_resource

    monkeypatch.setenv("OLLAMA_HOST", fake.url)
    monkeypatch.setenv("SPARKLIO_OLLAMA_FINAL_MODEL", DRAFT)
    monkeypatch.setenv("SPARKLIO_OLLAMA_TIMEOUT_SECONDS", "7")
    configured = llm_resource()
    assert isinstance(configured, OllamaLLMResource)
    llm = configured.process_config_and_initialize()  # resolves the EnvVars, as Dagster does
    assert (llm.host, llm.draft_model, llm.final_model, llm.timeout_seconds, llm.keep_alive) == (
        fake.url, DRAFT, DRAFT, 7, "5m")
    assert llm.generate("hello", max_tokens=4, final=True).call.model == DRAFT
    llm.release()
    assert fake.loaded_models() == []

    monkeypatch.delenv("OLLAMA_HOST")
    assert isinstance(llm_resource(), EmbeddedLLMResource)


# --- the fake itself speaks Ollama's API -------------------------------------------------------


def test_fake_streams_ndjson_when_stream_is_absent(fake):
    with httpx.stream("POST", f"{fake.url}/api/generate", json={"model": DRAFT, "prompt": "hi there"}) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/x-ndjson"
        parts = [json.loads(line) for line in reply.iter_lines() if line]
    assert all(not p["done"] for p in parts[:-1]) and parts[-1]["done"] is True
    text = "".join(p["response"] for p in parts)
    assert text == "A fake reply from the test Ollama server."
    final = parts[-1]
    assert final["done_reason"] == "stop" and final["eval_count"] == len(parts) - 1
    for key in ("model", "created_at", "total_duration", "load_duration", "prompt_eval_count",
                "prompt_eval_duration", "eval_duration"):
        assert key in final


def test_fake_chat_and_bad_requests(fake):
    with httpx.Client(base_url=fake.url) as http:
        chat = http.post("/api/chat", json={
            "model": FINAL, "stream": False, "messages": [{"role": "user", "content": "hi"}]}).json()
        assert chat["message"]["role"] == "assistant" and chat["message"]["content"] and chat["done"] is True
        assert http.post("/api/generate", json={"prompt": "x"}).json() == {"error": "model is required"}
        assert http.post("/api/generate", content=b"{not json").status_code == 400
        assert http.post("/api/generate", json={"model": DRAFT, "prompt": "x", "format": 3}).status_code == 400
        missing = http.post("/api/chat", json={"model": "nope", "messages": []})
        assert missing.status_code == 404
        assert missing.json() == {"error": 'model "nope" not found, try pulling it first'}
        assert http.get("/api/version").json() == {"version": fake.version}
        assert sorted(m["name"] for m in http.get("/api/tags").json()["models"]) == sorted([DRAFT, FINAL])


@pytest.mark.parametrize(("body", "error"), [
    ({"messages": [{"role": "writer", "content": "hi"}]}, "invalid message role 'writer'"),
    ({"messages": [{"role": "user", "content": ["hi"]}]}, "message content must be a string"),
    ({"messages": [{"role": "user", "content": "hi", "name": "x"}]}, "unknown message fields ['name']"),
    ({"messages": [], "format": {"type": "strnig"}}, "invalid JSON schema in format"),
    ({"messages": [], "options": {"max_tokens": 10}}, "unknown option 'max_tokens'"),
    ({"messages": [], "options": {"seed": "7"}}, "option 'seed' has the wrong type"),
    ({"messages": [], "keep_alive": "5 minutes"}, "invalid duration"),
    ({"messages": [], "system": "be brief"}, "unknown fields ['system']"),  # /api/generate's field, not chat's
])
def test_the_stand_in_refuses_what_ollamas_api_does_not_document(fake, body, error):
    reply = httpx.post(f"{fake.url}/api/chat", json={"model": DRAFT, "stream": False, **body})
    assert reply.status_code == 400 and error in reply.json()["error"]


@pytest.mark.parametrize("schema", [
    HEADLINES,
    {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 3, "uniqueItems": True},
    {"$defs": {"v": {"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 2}},
                     "required": ["n"]}},
     "type": "object", "properties": {"vs": {"type": "array", "items": {"$ref": "#/$defs/v"}, "minItems": 2}},
     "required": ["vs"]},
    {"anyOf": [{"type": "string", "minLength": 20}, {"type": "null"}]},
    {"type": ["integer", "null"], "multipleOf": 5, "minimum": 7},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]},
               {"properties": {"b": {"type": "string", "format": "date"}}, "required": ["b"]}]},
])
def test_fake_default_reply_is_valid_against_the_schema(fake, schema):
    reply = httpx.post(f"{fake.url}/api/generate",
                       json={"model": DRAFT, "prompt": "x", "stream": False, "format": schema}).json()
    jsonschema.validate(json.loads(reply["response"]), schema)
