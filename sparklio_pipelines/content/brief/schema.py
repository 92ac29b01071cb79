"""The campaign brief: a typed, validated schema, loaded from YAML or JSON.

A bad brief raises `BriefError`, which lists every bad field in plain words;
callers print `str(err)` and never show a stack trace to a marketer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import reprlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_BRIEF_BYTES = 256 * 1024  # a brief is a page of text; anything bigger is a mistake or an attack

Language = Literal["ko", "en"]
Channel = Literal["instagram", "x", "linkedin", "email", "shorts"]
LANGUAGES: tuple[str, ...] = ("ko", "en")
CHANNELS: tuple[str, ...] = ("instagram", "x", "linkedin", "email", "shorts")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 and C1 (\x9b is a terminal CSI)
MAX_FIELD_NAME_CHARS = 80  # an unknown key is echoed back in the error; a 200 KB key should not be
_SHORT_REPR = reprlib.Repr()  # bounded: YAML aliases can make a 1 KB brief a list of 2**30 items
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxdict, _SHORT_REPR.maxstring = 2, 4, 4, 60


class BriefError(ValueError):
    """A brief that cannot be used. `problems` holds (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"Invalid brief{f' {self.source}' if self.source else ''}: {len(self.problems)} problem(s)"
        lines = [f"  - {field}: {message}" for field, message in self.problems]
        return "\n".join([head, *lines])


def _clean_text(value: str) -> str:
    if CONTROL_RE.search(value):
        raise ValueError("contains control characters")
    return value.strip()


def _safe_input_path(path: str | None) -> str | None:
    """An input file (logo, reference, product photo): no '..', no control characters; '' means none."""
    if path is None or path == "":
        return None
    if ".." in Path(path).parts or CONTROL_RE.search(path):
        raise ValueError("must not contain '..' or control characters")
    return path


Position = Literal["bottom", "middle", "top"]
CaptionPreset = Literal["karaoke", "box", "pop", "plain"]


class CaptionStyle(BaseModel):
    """How burned-in captions look."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    font: str = Field(default="Noto Sans CJK KR", max_length=120)
    size: int = Field(default=64, ge=24, le=160, description="Font size in px on a 1080x1920 frame")
    primary: str = Field(default="#FFFFFF", description="Text color")
    highlight: str | None = Field(default=None, description="Word highlight color; default: the brand accent")
    outline: str = Field(default="#000000")
    position: Position = "bottom"
    preset: CaptionPreset = Field(
        default="karaoke",
        description="karaoke: each word lights up as it is spoken; box: the spoken word on a coloured box; "
        "pop: words appear one by one; plain: the line, no effects",
    )

    @field_validator("primary", "highlight", "outline")
    @classmethod
    def _hex(cls, color: str | None) -> str | None:
        if color is not None and not HEX_RE.match(color):
            raise ValueError(f"must look like #1A2B3C, got {color!r}")
        return color.upper() if color else color


class BrandKit(BaseModel):
    """The brand rules a campaign's outputs must follow."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=80, description="Brand name, shown in creatives")
    names: dict[Language, str] = Field(
        default_factory=dict, description="The name as written in a language where it differs, e.g. {en: Hanbit}",
    )
    palette: list[str] = Field(
        default_factory=lambda: ["#1F2A44", "#F4B942", "#FFFFFF"],
        min_length=2,
        max_length=8,
        description="Hex colors, darkest/background first, accent second, text third",
    )
    font: str = Field(default="Noto Sans CJK KR", max_length=120, description="Latin font family or font file path")
    hangul_font: str = Field(default="Noto Sans CJK KR", max_length=120, description="Font for Korean text")
    logo_path: str | None = Field(default=None, max_length=300, description="Logo image (PNG) path or object key")
    style_reference_path: str | None = Field(
        default=None, max_length=300,
        description="Brand style reference image (PNG/JPEG/WebP) path or object key: background art follows its look",
    )
    voice_notes: str = Field(default="", max_length=2000)
    tone_words: list[str] = Field(default_factory=list, max_length=20)
    example_phrases: list[str] = Field(default_factory=list, max_length=30, description="On-brand lines, few-shot examples")
    banned_words: list[str] = Field(default_factory=list, max_length=200, description="Banned in every language")
    required_terms: list[str] = Field(default_factory=list, max_length=50, description="Required in every language")
    banned_words_by_language: dict[Language, list[str]] = Field(default_factory=dict)
    required_terms_by_language: dict[Language, list[str]] = Field(default_factory=dict)
    claims: dict[Language, list[str]] = Field(
        default_factory=dict, description="Claim words added to the built-in claims lexicon, per language: "
        "copy may state them only where the brief does",
    )
    caption_style: CaptionStyle = Field(default_factory=CaptionStyle)
    tts_voices: dict[Language, str] = Field(
        default_factory=dict, description="Voice per language on the TTS service, e.g. {ko: ko-sunhi, en: alloy}"
    )

    def banned_for(self, language: str) -> list[str]:
        return [*self.banned_words, *self.banned_words_by_language.get(language, [])]

    def required_for(self, language: str) -> list[str]:
        return [*self.required_terms, *self.required_terms_by_language.get(language, [])]

    @property
    def all_names(self) -> list[str]:
        """Every way the brand's name is written: the one name, then each language's."""
        return [name for name in [self.name, *self.names.values()] if name]

    def name_for(self, language: str) -> str:
        """The name a creative in `language` shows: '한빛' on Korean ones, 'Hanbit' on English ones."""
        return self.names.get(language) or self.name

    def font_for(self, language: str) -> str:
        return self.hangul_font if language == "ko" else self.font

    @field_validator("palette")
    @classmethod
    def _hex_colors(cls, colors: list[str]) -> list[str]:
        bad = [c for c in colors if not isinstance(c, str) or not HEX_RE.match(c)]
        if bad:
            raise ValueError(f"colors must look like #1A2B3C, got {bad}")
        return [c.upper() for c in colors]

    @field_validator("logo_path", "style_reference_path")
    @classmethod
    def _safe_logo_path(cls, path: str | None) -> str | None:
        return _safe_input_path(path)

    @field_validator("name", "font", "hangul_font", "voice_notes")
    @classmethod
    def _no_control(cls, value: str) -> str:
        return _clean_text(value)

    @field_validator("names")
    @classmethod
    def _names(cls, names: dict[str, str]) -> dict[str, str]:
        cleaned = {lang: _clean_text(name) for lang, name in names.items()}
        if any(not name or len(name) > 80 for name in cleaned.values()):
            raise ValueError("each name must be 1-80 characters")
        return cleaned

    @field_validator("banned_words", "required_terms", "tone_words", "example_phrases")
    @classmethod
    def _terms(cls, terms: list[str]) -> list[str]:
        cleaned = [_clean_text(t) for t in terms]
        if any(not t or len(t) > 200 for t in cleaned):
            raise ValueError("each entry must be 1-200 characters")
        return cleaned

    @field_validator("banned_words_by_language", "required_terms_by_language", "claims")
    @classmethod
    def _terms_by_language(cls, terms: dict[str, list[str]]) -> dict[str, list[str]]:
        return {lang: cls._terms(values) for lang, values in terms.items()}

    @model_validator(mode="after")
    def _required_not_banned(self) -> "BrandKit":
        for lang in LANGUAGES:
            banned = {w.casefold() for w in self.banned_for(lang)}
            clash = [t for t in self.required_for(lang) if any(b in t.casefold() for b in banned)]
            if clash:
                raise ValueError(f"required terms contain banned words ({lang}): {clash}")
        return self


class BriefTranslation(BaseModel):
    """The brief's facts in another output language. The small embedded model writes from the facts it
    is given and cannot translate, so English copy for a Korean brief needs English facts (and back)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product: str | None = Field(default=None, min_length=1, max_length=200)
    audience: str | None = Field(default=None, min_length=1, max_length=500)
    key_messages: list[str] | None = Field(default=None, min_length=1, max_length=6)
    tone: str | None = Field(default=None, min_length=1, max_length=200)
    call_to_action: str | None = Field(default=None, min_length=1, max_length=80)

    @field_validator("product", "audience", "tone", "call_to_action")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return None if value is None else _clean_text(value)

    @field_validator("key_messages")
    @classmethod
    def _messages(cls, messages: list[str] | None) -> list[str] | None:
        if messages is None:
            return None
        cleaned = [_clean_text(m) for m in messages]
        if any(not m or len(m) > 300 for m in cleaned):
            raise ValueError("each key message must be 1-300 characters")
        return cleaned


class Brief(BaseModel):
    """What a marketer asks for. Every content asset is generated from this."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    campaign_id: str = Field(description="Lowercase slug: letters, digits and '-', e.g. spring-launch-2026")
    product: str = Field(min_length=1, max_length=200)
    audience: str = Field(min_length=1, max_length=500)
    key_messages: list[str] = Field(min_length=1, max_length=6)
    tone: str = Field(min_length=1, max_length=200)
    languages: list[Language] = Field(min_length=1, max_length=2)
    channels: list[Channel] = Field(min_length=1, max_length=5)
    call_to_action: str = Field(min_length=1, max_length=80)
    start_date: dt.date
    end_date: dt.date
    brand: BrandKit = Field(default_factory=BrandKit)
    translations: dict[Language, BriefTranslation] = Field(
        default_factory=dict,
        description="Per output language, the facts in that language, e.g. translations: {en: {product: ..., "
        "key_messages: [...], call_to_action: ...}}. Fields left out keep the brief's own.",
    )
    music: str | None = Field(
        default=None, max_length=300,
        description="The video's music bed: none, or a track's key in the music library (music/...). "
        "Left out: music picked (or composed) for the tone",
    )
    product_photo: str | None = Field(
        default=None, max_length=300,
        description="Product photo (PNG/JPEG/WebP) path or object key: one creative set becomes a product shot",
    )

    @field_validator("music")
    @classmethod
    def _music_choice(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "none"):
            return "none" if value is not None and value.strip() else None
        return _safe_input_path(value.strip())

    @field_validator("product_photo")
    @classmethod
    def _safe_product_photo(cls, path: str | None) -> str | None:
        return _safe_input_path(path)

    @field_validator("campaign_id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not isinstance(value, str) or not SLUG_RE.match(value):
            raise ValueError(
                "must be a lowercase slug of 1-64 letters, digits and '-' (no '/', '..' or spaces)"
            )
        return value

    @field_validator("product", "audience", "tone", "call_to_action")
    @classmethod
    def _no_control(cls, value: str) -> str:
        return _clean_text(value)

    @field_validator("key_messages")
    @classmethod
    def _messages(cls, messages: list[str]) -> list[str]:
        cleaned = [_clean_text(m) for m in messages]
        if any(not m or len(m) > 300 for m in cleaned):
            raise ValueError("each key message must be 1-300 characters")
        return cleaned

    @field_validator("languages", "channels")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("must not repeat a value")
        return values

    @model_validator(mode="after")
    def _dates_in_order(self) -> "Brief":
        if self.end_date < self.start_date:
            raise ValueError("end_date must be on or after start_date")
        return self

    def localized(self, language: str) -> "Brief":
        """This brief with its facts in `language`, where `translations` gives them, and the brand's
        name as written in it (kit `names`)."""
        given = self.translations.get(language)
        update = given.model_dump(exclude_none=True) if given is not None else {}
        if self.brand.name_for(language) != self.brand.name:
            update["brand"] = self.brand.model_copy(update={"name": self.brand.name_for(language)})
        return self.model_copy(update=update) if update else self

    def is_active_on(self, day: dt.date) -> bool:
        return self.start_date <= day <= self.end_date

    def canonical_json(self) -> str:
        """Stable JSON: the same brief always gives the same bytes (and hash)."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, indent=2)


def printable_field(name: object) -> str:
    """A field name from the input as it may be shown: control characters escaped, length capped."""
    text = str(name)
    if not text:
        return '""'  # an empty key must still be visible in "  - <field>: ..."
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text if len(text) <= MAX_FIELD_NAME_CHARS else text[: MAX_FIELD_NAME_CHARS - 1] + "…"


def _field_path(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(printable_field(item))
    return ".".join(parts) or "(brief)"


def _message(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}, got {_SHORT_REPR.repr(err.get('input'))}"[:300]
    msg = str(err.get("msg", "is invalid"))
    return msg.removeprefix("Value error, ")[:300]


def parse_brief_errors(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if x not in ("function-after",))
        problems.append((_field_path(loc), _message(err)))
    return problems


def load_yaml_text(text: str, field: str, source: str | None) -> object:
    """`yaml.safe_load`, with every way it can fail on untrusted text reported as a BriefError."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise BriefError([(field, f"is not valid YAML: {problem}{where}")], source) from None
    except RecursionError:
        raise BriefError([(field, "is nested too deeply")], source) from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these for scalars that match a tag but not its type:
        # `2026-13-45` (a date), `!!int nope`, `!!timestamp nope`, a 5000-digit integer
        raise BriefError([(field, f"is not valid YAML: a value cannot be read ({str(exc)[:120]})")], source) from None
