"""Embeddings: the real MiniLM int8 ONNX model, a round trip through the embedded pgvector,
and the Ollama backend against a local HTTP server speaking `/api/embed` as Ollama documents it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from resources.embeddings import (
    MINILM_LABEL,
    EmbedderResource,
    EmbeddingError,
    MiniLMEmbedderResource,
    OllamaEmbedderResource,
)


@pytest.fixture(scope="module")
def minilm():
    embedder = MiniLMEmbedderResource()
    yield embedder
    embedder.release()


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))  # vectors are unit length


# MiniLM --------------------------------------------------------------------------------------------


def test_minilm_vectors_are_384_dim_and_unit_length(minilm):
    texts = ["Glow serum for dull skin", "", "word " * 600]  # empty and over-long (truncated) texts too
    vectors = minilm.embed(texts)
    assert minilm.dim == 384 and minilm.model_label == MINILM_LABEL
    assert len(vectors) == 3
    for v in vectors:
        assert len(v) == 384
        assert abs(np.linalg.norm(v) - 1.0) < 1e-5


def test_minilm_matches_the_reference_model(minilm):
    # The all-MiniLM-L6-v2 model card: happy person vs happy dog 0.695, very happy person 0.943, sunny day 0.257.
    a, dog, very, sunny = minilm.embed(
        ["That is a happy person", "That is a happy dog", "That is a very happy person", "Today is a sunny day"]
    )
    assert cosine(a, dog) == pytest.approx(0.695, abs=0.03)
    assert cosine(a, very) == pytest.approx(0.943, abs=0.03)
    assert cosine(a, sunny) == pytest.approx(0.257, abs=0.03)


def test_similar_sentences_are_closer_than_unrelated(minilm):
    tea, barley, tax = minilm.embed(
        ["The tea tastes nutty", "This barley tea is roasty and nutty", "Quarterly tax filing deadline"]
    )
    assert cosine(tea, barley) > 0.5
    assert cosine(tea, barley) > cosine(tea, tax) + 0.3


def test_korean_text_embeds(minilm):
    # The vocabulary splits Hangul into jamo: vectors are valid and distinct, though weaker than English.
    texts = ["보리차는 고소한 맛이 나요", "구수한 보리차 한 잔", "분기별 세금 신고 마감일"]
    vectors = minilm.embed(texts)
    assert all(len(v) == 384 and abs(np.linalg.norm(v) - 1.0) < 1e-5 for v in vectors)
    assert cosine(vectors[0], vectors[1]) < 0.9999 and cosine(vectors[0], vectors[2]) < 0.9999


def test_embeddings_are_deterministic_and_independent_of_batching(minilm):
    texts = [f"Roasted barley tea, note {i}" for i in range(5)] + ["a much longer sentence " * 20]
    first = np.array(minilm.embed(texts))
    again = np.array(minilm.embed(texts))
    assert np.array_equal(first, again)
    one_at_a_time = np.array([minilm.embed([t])[0] for t in texts])
    np.testing.assert_allclose(one_at_a_time, first, atol=1e-5)
    small_batches = MiniLMEmbedderResource(batch_size=2).embed(list(reversed(texts)))
    np.testing.assert_allclose(np.array(small_batches)[::-1], first, atol=1e-5)


def test_release_then_embed_reloads(minilm):
    before = minilm.embed(["brand memory"])
    minilm.release()
    assert minilm.embed(["brand memory"]) == before


def test_misuse_is_a_clear_error(minilm):
    assert minilm.embed([]) == []
    with pytest.raises(EmbeddingError, match="list of texts"):
        minilm.embed("one string")  # type: ignore[arg-type]


def test_base_resource_is_only_an_interface():
    base = EmbedderResource()
    with pytest.raises(NotImplementedError):
        base.embed(["x"])


# Round trip through Postgres + pgvector --------------------------------------------------------------


def test_round_trip_through_pgvector_finds_the_right_neighbour(minilm, campaign_db):
    brand = f"test-brand-{uuid.uuid4().hex[:8]}"  # the session database is shared with other tests
    memory = [
        "This barley tea is roasty and nutty",
        "Quarterly tax filing deadline",
        "Our serum brightens dull skin overnight",
        "Free shipping on orders over $30",
    ]
    for text, vector in zip(memory, minilm.embed(memory)):
        campaign_db.add_embedding(
            content=text, embedding=vector, model=minilm.model_label, kind="approved_copy", language="en", brand=brand
        )
    # A vector from another model, identical to the query, must never be compared.
    (query,) = minilm.embed(["The tea tastes nutty"])
    campaign_db.add_embedding(
        content="other model", embedding=query, model="some-other-model", kind="approved_copy", language="en",
        brand=brand,
    )

    hits = campaign_db.nearest(query, model=minilm.model_label, brand=brand, k=2)
    assert [h["content"] for h in hits][0] == "This barley tea is roasty and nutty"
    assert hits[0]["similarity"] > hits[1]["similarity"]
    assert all(h["content"] != "other model" for h in hits)

    (skin,) = minilm.embed(["a cream that makes skin glow"])
    assert campaign_db.nearest(skin, model=minilm.model_label, brand=brand, k=1)[0]["content"] == memory[2]


# Ollama backend against a local server ----------------------------------------------------------------


class FakeOllama(BaseHTTPRequestHandler):
    """`POST /api/embed` as documented: {"model", "input": str | [str]} -> {"model", "embeddings": [[...]]}."""

    models = {"nomic-embed-text": 8}
    delay_s = 0.0
    unloads: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay_s)
        if self.path != "/api/embed":
            return self._reply(404, {"error": "not found"})
        model = body.get("model", "")
        if model not in self.models:
            return self._reply(404, {"error": f'model "{model}" not found, try pulling it first'})
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        if body.get("keep_alive") == 0 and not texts:
            FakeOllama.unloads.append(body)
        # Deterministic, deliberately not normalised: the client must normalise.
        vectors = [[float(len(t) + 1), *[float(ord(c) % 7) for c in (t + "x" * 8)[: self.models[model] - 1]]]
                   for t in texts]
        return self._reply(200, {"model": model, "embeddings": vectors})

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def fake_ollama():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOllama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ollama_embeds_in_order_normalised_and_learns_dim(fake_ollama):
    embedder = OllamaEmbedderResource(host=fake_ollama, batch_size=2)
    texts = ["a", "bb", "ccc", "brand voice"]
    vectors = embedder.embed(texts)
    assert embedder.dim == 8 and embedder.model_label == "ollama:nomic-embed-text"
    assert [len(v) for v in vectors] == [8] * 4
    assert all(abs(np.linalg.norm(v) - 1.0) < 1e-9 for v in vectors)
    assert vectors[0] != vectors[1]
    assert embedder.embed(["bb"])[0] == pytest.approx(vectors[1])  # order kept across batches


def test_ollama_dim_before_any_embed_asks_the_server(fake_ollama):
    assert OllamaEmbedderResource(host=fake_ollama).dim == 8


def test_ollama_missing_model_names_the_pull_command(fake_ollama):
    embedder = OllamaEmbedderResource(host=fake_ollama, model="mxbai-embed-large")
    with pytest.raises(EmbeddingError, match=r"ollama pull mxbai-embed-large"):
        embedder.embed(["x"])


def test_ollama_unreachable_and_slow_servers_are_clear_errors(fake_ollama):
    with pytest.raises(EmbeddingError, match="cannot reach Ollama at http://127.0.0.1:9"):
        OllamaEmbedderResource(host="http://127.0.0.1:9").embed(["x"])
    FakeOllama.delay_s = 1.0
    try:
        with pytest.raises(EmbeddingError, match="did not answer within 0.2 s"):
            OllamaEmbedderResource(host=fake_ollama, timeout_s=0.2).embed(["x"])
    finally:
        FakeOllama.delay_s = 0.0


def test_ollama_host_defaults_to_the_environment(fake_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama)
    embedder = OllamaEmbedderResource()
    assert embedder.base_url == fake_ollama
    assert len(embedder.embed(["from env"])[0]) == 8


def test_ollama_release_unloads_the_model(fake_ollama):
    embedder = OllamaEmbedderResource(host=fake_ollama)
    FakeOllama.unloads.clear()
    embedder.release()  # never used: no request
    assert FakeOllama.unloads == []
    embedder.embed(["x"])
    embedder.release()
    assert FakeOllama.unloads == [{"model": "nomic-embed-text", "input": [], "keep_alive": 0}]
