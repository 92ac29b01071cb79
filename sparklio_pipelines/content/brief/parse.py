"""Reading a brief: YAML or JSON bytes or a file, validated, with `brand: <name>` resolved to its kit.

Every problem becomes a `BriefError` naming each bad field; nothing here raises anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from sparklio_pipelines.content.brief.brand_kits import load_brand_kit
from sparklio_pipelines.content.brief.schema import (
    MAX_BRIEF_BYTES,
    Brief,
    BriefError,
    load_yaml_text,
    parse_brief_errors,
)


def parse_brief_data(data: object, source: str | None = None) -> Brief:
    """Validate an already-parsed mapping. `brand: <name>` pulls in `brands/<name>.yaml`."""
    if not isinstance(data, dict):
        raise BriefError([("(brief)", f"must be a mapping of fields, got {type(data).__name__}")], source)
    if isinstance(data.get("brand"), str):
        try:
            kit = load_brand_kit(data["brand"])
        except BriefError as exc:
            raise BriefError([(f"brand.{f}" if not f.startswith("brand") else f, m) for f, m in exc.problems],
                             source) from None
        data = {**data, "brand": kit.model_dump()}
    try:
        return Brief.model_validate(data)
    except ValidationError as exc:
        raise BriefError(parse_brief_errors(exc), source) from None


def parse_brief_bytes(raw: bytes, name: str = "brief.yaml") -> Brief:
    """Parse YAML or JSON bytes (chosen by the name's extension, YAML otherwise)."""
    source = Path(name).name
    if len(raw) > MAX_BRIEF_BYTES:
        raise BriefError([("(file)", f"is {len(raw):,} bytes; a brief may be at most {MAX_BRIEF_BYTES:,}")], source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BriefError([("(file)", f"is not UTF-8 text (byte {exc.start})")], source) from None
    if name.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BriefError([("(file)", f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")], source) from None
        except RecursionError:
            raise BriefError([("(file)", "is nested too deeply")], source) from None
        except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
            raise BriefError([("(file)", f"is not valid JSON: {str(exc)[:120]}")], source) from None
    else:
        data = load_yaml_text(text, "(file)", source)
    return parse_brief_data(data, source)


def load_brief(path: str | Path) -> Brief:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BriefError([("(file)", f"cannot be read: {exc.strerror}")], path.name) from None
    if size > MAX_BRIEF_BYTES:
        raise BriefError([("(file)", f"is {size:,} bytes; a brief may be at most {MAX_BRIEF_BYTES:,}")], path.name)
    return parse_brief_bytes(path.read_bytes(), path.name)
