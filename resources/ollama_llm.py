"""The production LLM backend: Ollama on the GPU desktop, through the `ollama` Python client.

Same interface as the embedded model (`generate` / `release` / `model_label`), plus `chat`: the
models are instruct models, so the copy step writes with system and user messages (`/api/chat`).
A schema is sent as Ollama's `format=<json schema>`; the base class still validates every reply and
re-asks, because a reply cut short by `num_predict` is not valid JSON even under a grammar. A draft
pass uses the smaller `draft_model`, `final=True` the larger `final_model`. Both are looked up in
`/api/tags` before the first request, so a model that is not pulled fails with the command to pull it.

Failures are split for the step's retry logic: an unreachable, slow or overloaded server is
transient; a missing model or a rejected request is permanent and says what to do.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import Field, PrivateAttr

from resources.llm import LLMError, LLMResource
from sparklio_common.errors import (
    PermanentServiceError,
    ServiceError,
    TransientServiceError,
    is_transient_status,
)
from sparklio_common.model_io import LLMCall

log = logging.getLogger(__name__)

T = TypeVar("T")


class OllamaUnavailableError(TransientServiceError, LLMError):
    """Ollama could not be reached, timed out, was overloaded (429/5xx) or sent a broken reply."""


class OllamaRequestError(PermanentServiceError, LLMError):
    """Ollama rejected the request (4xx): sending it again cannot help."""


class OllamaModelMissingError(OllamaRequestError):
    """The model is not pulled on the Ollama host (HTTP 404)."""

    def __init__(self, service: str, message: str, model: str):
        super().__init__(service, message)
        self.model = model


def ns_to_seconds(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e9, 3)


class OllamaLLMResource(LLMResource):
    """Ollama on the GPU desktop: `POST /api/chat` for copy (JSON-schema replies via `format`),
    `/api/generate` for plain completions."""

    host: str = Field(default="", description="Ollama URL (OLLAMA_HOST); empty: the ollama client reads $OLLAMA_HOST")
    draft_model: str = Field(default="qwen2.5:7b", description="model for draft passes (pulled on the Ollama host)")
    final_model: str = Field(default="qwen2.5:14b", description="model for generate(..., final=True)")
    timeout_seconds: int = Field(default=180, description="per request: connect, and each read (seconds)")
    keep_alive: str = Field(default="5m", description="how long Ollama keeps a model loaded between calls")
    context_tokens: int = Field(
        default=16384,
        description="num_ctx: Ollama's 2048-token default cannot hold a brief, the rules and a whole deck",
    )

    _client: Any = PrivateAttr(default=None)
    _used: dict = PrivateAttr(default_factory=dict)  # models to unload on release(), in order of first use
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _models_checked: bool = PrivateAttr(default=False)

    @property
    def model_label(self) -> str:
        if self.final_model == self.draft_model:
            return f"ollama:{self.draft_model}"
        return f"ollama:{self.draft_model}|{self.final_model}"

    @property
    def service(self) -> str:
        """Names the server in every error, so the operator knows which box to look at."""
        return f"Ollama at {self.host or os.environ.get('OLLAMA_HOST') or 'the default host'}"

    def _ollama(self) -> Any:
        with self._lock:
            if self._client is None:
                import ollama

                self._client = ollama.Client(host=self.host or None, timeout=self.timeout_seconds)
            return self._client

    def _request(self, model: str, send: Callable[[Any], T]) -> T:
        """Send one request; translate every failure into a transient or a permanent error."""
        import httpx
        import ollama
        import pydantic

        try:
            return send(self._ollama())
        except ollama.ResponseError as exc:
            status = exc.status_code
            if status == 404:
                raise OllamaModelMissingError(
                    self.service,
                    f"model {model!r} is not available: run `ollama pull {model}` on the GPU desktop ({exc.error})",
                    model,
                ) from exc
            # -1: an error line inside a reply, no HTTP status; the runner failed mid-answer.
            if status == -1 or is_transient_status(status):
                raise OllamaUnavailableError(self.service, f"{model!r}: {exc.error} (HTTP {status})") from exc
            raise OllamaRequestError(
                self.service, f"{model!r} rejected the request: {exc.error} (HTTP {status})"
            ) from exc
        except ConnectionError as exc:  # the ollama client's translation of httpx.ConnectError
            raise OllamaUnavailableError(self.service, "connection refused: is Ollama running?") from exc
        except httpx.TimeoutException as exc:
            raise OllamaUnavailableError(
                self.service, f"{model!r} did not answer within {self.timeout_seconds} s ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:  # reset, closed mid-reply, protocol errors
            raise OllamaUnavailableError(self.service, f"{type(exc).__name__}: {exc}") from exc
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:  # a truncated or garbled HTTP body
            raise OllamaUnavailableError(self.service, f"malformed reply from {model!r}: {exc}") from exc

    @property
    def writing_strategy(self) -> str:
        return "chat"  # qwen2.5 and its kind are instruct models

    @property
    def final_model_name(self) -> str:
        return self.final_model

    def _model(self, final: bool) -> str:
        return self.final_model if final else self.draft_model

    def _options(self, max_tokens: int, temperature: float, seed: int | None,
                 stop: list[str] | None = None) -> dict[str, Any]:
        options: dict[str, Any] = {"num_ctx": self.context_tokens, "num_predict": max_tokens,
                                   "temperature": temperature}
        if seed is not None:
            options["seed"] = seed
        if stop:
            options["stop"] = list(stop)
        return options

    def _complete(
        self,
        prompt: str,
        schema: dict | None,
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        stop: list[str] | None,
        final: bool = False,
    ) -> tuple[str, LLMCall]:
        model = self._model(final)
        options = self._options(max_tokens, temperature, seed, stop)
        reply, call = self._infer(model, lambda client: client.generate(
            model=model, prompt=prompt, format=schema, options=options, keep_alive=self.keep_alive, stream=False,
        ))
        return reply.response or "", call

    def _chat(
        self, messages: list[dict[str, str]], schema: dict, *, max_tokens: int, temperature: float,
        seed: int | None, final: bool,
    ) -> tuple[str, LLMCall]:
        model = self._model(final)
        options = self._options(max_tokens, temperature, seed)
        reply, call = self._infer(model, lambda client: client.chat(
            model=model, messages=messages, format=schema, options=options, keep_alive=self.keep_alive, stream=False,
        ))
        return reply.message.content or "", call

    def check_models(self) -> None:
        """Ask `/api/tags` once whether both models are pulled: a missing one fails before any writing,
        with the `ollama pull` command that fixes it."""
        with self._lock:
            if self._models_checked:
                return
        listed = self._request(self.draft_model, lambda client: client.list())
        names = {m.model for m in listed.models if m.model}
        names |= {n.removesuffix(":latest") for n in names}
        for model in dict.fromkeys([self.draft_model, self.final_model]):
            if model not in names:
                raise OllamaModelMissingError(
                    self.service, f"model {model!r} is not pulled: run `ollama pull {model}` on the GPU desktop", model,
                )
        with self._lock:
            self._models_checked = True

    def _infer(self, model: str, send: Callable[[Any], T]) -> tuple[T, LLMCall]:
        """One inference request, timed; the model is remembered so release() unloads it."""
        self.check_models()
        with self._lock:
            self._used.setdefault(model, None)
        started = time.perf_counter()
        try:
            reply: Any = self._request(model, send)
        except OllamaModelMissingError:
            with self._lock:
                self._used.pop(model, None)  # nothing was loaded: nothing to unload
            raise
        call = LLMCall(
            model=model,
            prompt_tokens=int(reply.prompt_eval_count or 0),
            output_tokens=int(reply.eval_count or 0),
            seconds=round(time.perf_counter() - started, 3),
            total_seconds=ns_to_seconds(reply.total_duration),
            load_seconds=ns_to_seconds(reply.load_duration),
            prompt_eval_seconds=ns_to_seconds(reply.prompt_eval_duration),
            eval_seconds=ns_to_seconds(reply.eval_duration),
        )
        return reply, call

    def release(self) -> None:
        """Unload every model this resource used (keep_alive=0), so the GPU is free for the next step.

        A failed unload is logged, not raised: the step already has its text. The model stays on the
        list, so the next release() tries again.
        """
        with self._lock:
            models = list(self._used)
        for model in models:
            try:
                # Ollama's documented unload: an empty chat with keep_alive 0.
                self._request(model, lambda client, m=model: client.chat(model=m, messages=[], keep_alive=0))
            except ServiceError as exc:
                log.warning("could not unload %s: %s", model, exc)
                continue
            with self._lock:
                self._used.pop(model, None)
