"""Brand kits: reusable `brands/<brand>.yaml` files that briefs reference by name (`brand: hanbit`).

A kit is validated like a brief: every bad field is named. When a brief is stored, its kit is
inlined, so a campaign keeps the rules it was made with even if the kit file changes later.
"""

from __future__ import annotations

from pathlib import Path

from sparklio_common.settings import settings
from sparklio_pipelines.content.brief.schema import (
    LANGUAGES,
    SLUG_RE,
    BrandKit,
    BriefError,
    load_yaml_text,
    parse_brief_errors,
    printable_field,
)

MAX_KIT_BYTES = 128 * 1024


def brands_dir() -> Path:
    return settings().brands_dir


def _split_by_language(value, field: str, problems: list) -> tuple[list, dict]:
    """A list applies to every language; a mapping may have `all`, `ko`, `en`."""
    if value is None:
        return [], {}
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("all", *LANGUAGES)]
        if unknown:
            problems.append((field, f"keys must be all, ko or en; got {[printable_field(k) for k in unknown[:5]]}"))
        return value.get("all", []) or [], {k: v or [] for k, v in value.items() if k in LANGUAGES}
    problems.append((field, "must be a list, or a mapping of all/ko/en to lists"))
    return [], {}


def kit_from_data(data: object, source: str, base_dir: Path | None = None) -> BrandKit:
    """Map the kit file layout onto `BrandKit`, validating everything."""
    if not isinstance(data, dict):
        raise BriefError([("(brand kit)", "must be a mapping of fields")], source)
    data = dict(data)
    problems: list[tuple[str, str]] = []
    fields: dict = {}
    for key in ("name", "names", "palette", "caption_style", "claims", "tts_voices"):
        if key in data:
            fields[key] = data.pop(key)
    fonts = data.pop("fonts", {}) or {}
    if not isinstance(fonts, dict):
        problems.append(("fonts", "must be a mapping with latin and hangul"))
        fonts = {}
    for kit_key, field in (("latin", "font"), ("hangul", "hangul_font")):
        if kit_key in fonts:
            fields[field] = fonts[kit_key]
    voice = data.pop("voice", {}) or {}
    if not isinstance(voice, dict):
        problems.append(("voice", "must be a mapping with notes, tone_words, example_phrases"))
        voice = {}
    for kit_key, field in (("notes", "voice_notes"), ("tone_words", "tone_words"), ("example_phrases", "example_phrases")):
        if kit_key in voice:
            fields[field] = voice[kit_key]
    for kit_key in ("banned_words", "required_terms"):
        common, by_language = _split_by_language(data.pop(kit_key, None), kit_key, problems)
        fields[kit_key], fields[f"{kit_key}_by_language"] = common, by_language
    # Image files the kit names live in the brands folder: `logo`, and `style_reference` (the look
    # that background art follows).
    for kit_key, field in (("logo", "logo_path"), ("style_reference", "style_reference_path")):
        value = data.pop(kit_key, None)
        if not value:
            continue
        if not isinstance(value, str) or ".." in Path(value).parts or Path(value).is_absolute():
            problems.append((kit_key, "must be a file name relative to the brands folder"))
        else:
            fields[field] = str((base_dir or brands_dir()) / value)
    for unknown in data:
        problems.append((printable_field(unknown), "is not a known field"))
    try:
        kit = BrandKit.model_validate(fields)
    except Exception as exc:  # pydantic ValidationError: reuse the brief's wording

        problems += parse_brief_errors(exc)
    if problems:
        raise BriefError(problems, source)
    return kit


def load_brand_kit(name: str) -> BrandKit:
    if not isinstance(name, str) or not SLUG_RE.match(name):
        raise BriefError([("brand", f"must be a brand kit name (a slug) or an inline kit, got {name!r}")])
    path = brands_dir() / f"{name}.yaml"
    if not path.is_file():
        raise BriefError([("brand", f"no brand kit {name!r} (expected {path.name} in {brands_dir()})")])
    raw = path.read_bytes()
    if len(raw) > MAX_KIT_BYTES:
        raise BriefError([("(brand kit)", f"is {len(raw):,} bytes; at most {MAX_KIT_BYTES:,}")], path.name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BriefError([("(brand kit)", f"is not UTF-8 text (byte {exc.start})")], path.name) from None
    data = load_yaml_text(text, "(brand kit)", path.name)
    return kit_from_data(data, f"brand kit {path.name}", path.parent)
