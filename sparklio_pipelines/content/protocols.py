"""The small interfaces the content core is written against. Resources implement them; tests may too.

The core never imports a `ConfigurableResource`: anything with these methods will do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from sparklio_common.model_io import LLMResult, Transcript


class TextGenerator(Protocol):
    """A language model that completes a prompt (the embedded base model, Ollama, ...).

    `writing_strategy` is "completion" for a base model, "chat" for an instruct model, which also
    answers `chat` (see content/copy/chat.py's ChatModel).
    """

    @property
    def model_label(self) -> str: ...

    @property
    def writing_strategy(self) -> str: ...

    def generate(self, prompt: str, schema: dict[str, Any] | None = None, *, max_tokens: int = ...,
                 temperature: float = ..., seed: int | None = None, stop: list[str] | None = None,
                 final: bool = False) -> LLMResult: ...


class Transcriber(Protocol):
    """Speech to timed words; `release` frees the model for the next GPU step."""

    def transcribe(self, media_path: str | Path, language: str | None = None, hotwords: list[str] | None = None,
                   initial_prompt: str | None = None) -> Transcript: ...

    def release(self) -> None: ...
