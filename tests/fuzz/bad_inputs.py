"""Bad-input classes for briefs, brand kits and object keys, and how each outcome is judged.

Every input must end as a valid object that keeps its invariants, or as a clear, named error
(BriefError / UnsafeKeyError). Anything else is a crash. Shared by test_brief_fuzz.py and report.py.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import string
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml
from hypothesis import strategies as st

from sparklio_common.keys import (
    MAX_NAME_CHARS,
    UnsafeKeyError,
    sanitize_name,
    validate_key,
)
from sparklio_pipelines.content.brief.brand_kits import kit_from_data, load_brand_kit
from sparklio_pipelines.content.brief.parse import parse_brief_bytes, parse_brief_data
from sparklio_pipelines.content.brief.schema import (
    CONTROL_RE,
    SLUG_RE,
    BrandKit,
    Brief,
    BriefError,
)

MAX_ERROR_CHARS = 20_000  # a clear error is one a person can read
_KEY_ROOT = Path(tempfile.mkdtemp(prefix="sparklio-fuzz-keys-")).resolve()  # stands in for a store root / base dir
atexit.register(shutil.rmtree, _KEY_ROOT, ignore_errors=True)

VALID_BRIEF = {
    "campaign_id": "fuzz-campaign", "product": "Lumi Glow Serum", "audience": "Skincare fans",
    "key_messages": ["Brighter skin in 14 days"], "tone": "warm", "languages": ["en", "ko"],
    "channels": ["instagram", "shorts"], "call_to_action": "Shop now", "start_date": "2026-11-01",
    "end_date": "2026-12-01",
    "brand": {"name": "Lumi", "palette": ["#1F2A44", "#F4B942", "#FFFFFF"], "banned_words": ["cure"],
              "required_terms": ["Lumi"], "logo_path": None},
}
TEXT_FIELDS = ("product", "audience", "tone", "call_to_action")
ALL_FIELDS = (*VALID_BRIEF, "brand.name", "brand.palette", "brand.font", "brand.logo_path", "brand.banned_words",
              "brand.caption_style", "brand.voice_notes", "brand.banned_words_by_language")
KIT_KEYS = ("name", "palette", "caption_style", "fonts", "voice", "banned_words", "required_terms", "logo")

TRAVERSAL_PIECES = [
    "..", "../", "..\\", "/", "/etc/passwd", "C:\\Windows\\win.ini", "%2e%2e", "%2e%2e%2f", "%252e%252e",
    "..%2f", "\x00", "%00", "....//", ".", "~", "~root", "\u2024\u2024", "\uff0e\uff0e", "\u202e", "a", "logo.png",
    "campaigns/other/input/logo.png", "file:///etc/passwd", "\\\\server\\share",
]
CONTROL_CHARS = [chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]] + ["\u202e", "\u200b", "\ufeff",
                                                                                      "\u2028", "\ud800"]


# ------------------------------------------------------------------------------------ outcomes


@dataclass
class Outcome:
    kind: str  # "valid", "clear" (a clear, named error) or "crash"
    detail: str = ""


def crash(detail: str) -> Outcome:
    return Outcome("crash", detail)


def judge_brief_error(err: BriefError) -> Outcome:
    text = str(err)
    if not err.problems:
        return crash("BriefError without problems")
    for field, message in err.problems:
        if not isinstance(field, str) or not field or not isinstance(message, str) or not message:
            return crash(f"problem without a field name or message: {(field, message)!r}")
        if not field.isprintable() or field not in text:
            return crash(f"field name not shown as printable text: {field!r}")
    if len(text) > MAX_ERROR_CHARS:
        return crash(f"error message is {len(text):,} characters")
    if any(CONTROL_RE.search(line) for line in text.splitlines()):
        return crash("error message carries control characters")
    return Outcome("clear")


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def judge_brief(brief: Brief) -> Outcome:
    """Invariants of an accepted brief."""
    if not SLUG_RE.match(brief.campaign_id):
        return crash(f"campaign_id {brief.campaign_id!r} accepted")
    dumped = brief.model_dump(mode="json")
    bad = [s for s in _strings(dumped) if CONTROL_RE.search(s)]
    if bad:
        return crash(f"control characters accepted: {bad[0]!r}")
    logo = brief.brand.logo_path
    if logo and not Path(logo).is_absolute() and not (_KEY_ROOT / logo).resolve().is_relative_to(_KEY_ROOT):
        return crash(f"relative logo path that leaves its folder accepted: {logo!r}")
    try:
        again = parse_brief_data(json.loads(brief.canonical_json()))  # what the `brief` asset reads back
        brief.canonical_json().encode()
    except Exception as exc:  # noqa: BLE001 - any failure here is the finding
        return crash(f"accepted brief does not round-trip: {type(exc).__name__}: {exc}")
    if again != brief:
        return crash("accepted brief changes when read back")
    return Outcome("valid")


def judge_kit(kit: BrandKit) -> Outcome:
    bad = [s for s in _strings(kit.model_dump(mode="json")) if CONTROL_RE.search(s)]
    if bad:
        return crash(f"control characters accepted in a kit: {bad[0]!r}")
    return Outcome("valid")


def run_brief(call: Callable[[], Brief]) -> Outcome:
    try:
        result = call()
    except BriefError as err:
        return judge_brief_error(err)
    except Exception as exc:  # noqa: BLE001
        return crash(f"{type(exc).__name__}: {str(exc)[:300]}")
    return judge_brief(result)


def run_kit(call: Callable[[], BrandKit]) -> Outcome:
    try:
        result = call()
    except BriefError as err:
        return judge_brief_error(err)
    except Exception as exc:  # noqa: BLE001
        return crash(f"{type(exc).__name__}: {str(exc)[:300]}")
    return judge_kit(result)


def judge_sanitized(original: str, name: str) -> Outcome:
    if not name or len(name) > MAX_NAME_CHARS:
        return crash(f"sanitized name of length {len(name)}")
    if "/" in name or "\\" in name or ".." in name or name.startswith((".", "-", "_")):
        return crash(f"unsafe sanitized name {name!r} from {original!r}")
    if any(unicodedata.category(c)[0] == "C" for c in name):
        return crash(f"control or format character kept in {name!r}")
    try:
        validate_key(f"uploads/video/{name}")
    except UnsafeKeyError as exc:
        return crash(f"sanitized name {name!r} is not a valid key segment: {exc}")
    return Outcome("valid")


def run_sanitize(raw: str) -> Outcome:
    try:
        name = sanitize_name(raw)
    except Exception as exc:  # noqa: BLE001
        return crash(f"{type(exc).__name__}: {exc}")
    return judge_sanitized(raw, name)


def run_validate_key(key: str) -> Outcome:
    try:
        normalized = validate_key(key)
    except UnsafeKeyError as exc:
        return Outcome("clear") if str(exc) else crash("UnsafeKeyError without a message")
    except Exception as exc:  # noqa: BLE001
        return crash(f"{type(exc).__name__}: {exc}")
    segments = normalized.split("/")
    if normalized.startswith("/") or any(s in ("", ".", "..") for s in segments):
        return crash(f"key {key!r} accepted as {normalized!r}")
    if any(unicodedata.category(c)[0] == "C" or c == "\\" for c in normalized):
        return crash(f"key {key!r} accepted with a control character or backslash")
    resolved = (_KEY_ROOT / normalized).resolve()  # what the local store would open
    if _KEY_ROOT not in resolved.parents:  # a key names an object, never the root itself
        return crash(f"key {key!r} resolves outside the store: {resolved}")
    return Outcome("valid")


# ------------------------------------------------------------------------------------ strategies

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.dates(), st.datetimes(), st.binary(max_size=20),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5), max_leaves=25)
any_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5), max_leaves=25)
field_names = st.sampled_from([*VALID_BRIEF, "brand"]) | st.text(max_size=20)
traversal = st.lists(st.sampled_from(TRAVERSAL_PIECES), min_size=1, max_size=6).map("".join) | st.lists(
    st.sampled_from(TRAVERSAL_PIECES + ["x", "y.png"]), min_size=1, max_size=5).map("/".join)
controls = st.sampled_from(CONTROL_CHARS)
hangul = st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3) | st.sampled_from(" ,.!?0123456789"),
                 min_size=1, max_size=60)


@st.composite
def random_yaml(draw) -> bytes:
    """A YAML document: random data dumped, random YAML-ish text, or a known-nasty construct."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return yaml.safe_dump(draw(json_values), allow_unicode=True).encode()
    if choice == 1:
        data = {**VALID_BRIEF, **draw(st.dictionaries(field_names, json_values, max_size=4))}
        return yaml.safe_dump(data, allow_unicode=True, default_flow_style=draw(st.booleans())).encode()
    if choice == 2:
        alphabet = string.printable + "가나다&*!|>-:[]{}#%@`'\""
        return draw(st.text(alphabet=alphabet, max_size=300)).encode()
    tags = ["!!int", "!!float", "!!timestamp", "!!binary", "!!set", "!!omap", "!!python/object:os.system", "!!str", ""]
    scalar = draw(st.sampled_from(["nope", "2026-13-45", "2026-02-30", "1" * 5000, "0x" + "f" * 500, "~", "[]", "{}",
                                   "1_000", "0o17", "1:20:30", ".nan", "-.inf", "2026-01-01T25:00:00"]))
    field = draw(st.sampled_from(["start_date", "product", "languages", "brand", "x"]))
    return f"campaign_id: fuzz\n{field}: {draw(st.sampled_from(tags))} {scalar}\n".encode()


@st.composite
def random_json(draw) -> bytes:
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return json.dumps(draw(json_values)).encode()
    if choice == 1:
        data = {**VALID_BRIEF, **draw(st.dictionaries(field_names, json_values, max_size=4))}
        return json.dumps(data, ensure_ascii=draw(st.booleans())).encode()
    return draw(st.sampled_from([
        b"[" * 50_000 + b"]" * 50_000, b'{"campaign_id": ' + b"9" * 5000 + b"}", b'{"a": NaN}', b'{"a": Infinity}',
        b'{"product": "\\ud800"}', b'{"a": 1,}', b"\xef\xbb\xbf{}", b'{"a": "\\u0000"}', b"", b"null", b"[]",
    ]))


def _with_value(base: dict, path: str, value) -> dict:
    """A copy of `base` with one field (`brand.x` for a brand field) set to `value`."""
    data = json.loads(json.dumps(base))
    target, *rest = path.split(".")
    if rest:
        data[target][rest[0]] = value
    else:
        data[target] = value
    return data


@st.composite
def wrong_types(draw) -> dict:
    return _with_value(VALID_BRIEF, draw(st.sampled_from(ALL_FIELDS)), draw(any_values))


@st.composite
def huge_strings(draw) -> tuple[str, bytes | dict]:
    """A field (or a key) of 1 KB to 400 KB: as a file (size limit) or as already-parsed data (field limits)."""
    chunk = draw(st.text(min_size=1, max_size=8) | hangul)
    text = chunk * draw(st.integers(200, 50_000))
    path = draw(st.sampled_from([*TEXT_FIELDS, "campaign_id", "brand.name", "brand.voice_notes", "key_messages"]))
    value = [text] if path == "key_messages" else text
    data = _with_value(VALID_BRIEF, path, value)
    if draw(st.booleans()):
        data[text[:100_000]] = 1  # a huge unknown key
    if draw(st.booleans()):
        return "file", json.dumps(data, ensure_ascii=False).encode()
    return "data", data


@st.composite
def control_characters(draw) -> dict:
    text = draw(st.text(max_size=10)) + draw(controls) + draw(st.text(max_size=10))
    path = draw(st.sampled_from([*TEXT_FIELDS, "campaign_id", "brand.name", "brand.logo_path", "brand.font",
                                 "brand.banned_words", "key_messages", "(key)"]))
    if path == "(key)":
        return {**VALID_BRIEF, text: "x"}
    return _with_value(VALID_BRIEF, path, [text] if path in ("key_messages", "brand.banned_words") else text)


@st.composite
def hangul_briefs(draw) -> dict:
    data = json.loads(json.dumps(VALID_BRIEF))
    for field in draw(st.lists(st.sampled_from(TEXT_FIELDS), min_size=1, unique=True)):
        data[field] = draw(hangul)
    data["key_messages"] = draw(st.lists(hangul, min_size=1, max_size=6))
    data["brand"]["name"] = draw(hangul)[:80]
    data["brand"]["banned_words"] = ["기적"]
    data["brand"]["required_terms"] = [draw(st.sampled_from(["한빛", "루미", "Lumi"]))]
    return data


@st.composite
def traversal_briefs(draw) -> dict:
    attack = draw(traversal)
    where = draw(st.sampled_from(["brand.logo_path", "brand (kit name)", "campaign_id", "(key)", "brand.font"]))
    if where == "brand (kit name)":
        return {**VALID_BRIEF, "brand": attack}
    if where == "(key)":
        return {**VALID_BRIEF, attack: "x"}
    return _with_value(VALID_BRIEF, where, attack)


@st.composite
def alias_bombs(draw) -> bytes:
    """YAML aliases: a 1 KB document that is a list of 2**levels items when walked."""
    levels, width = draw(st.integers(5, 40)), draw(st.integers(2, 3))
    field = draw(st.sampled_from(["languages", "channels", "key_messages", "brand", "product", "extra"]))
    lines = [f"a0: &a0 [{', '.join(['fr'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    doc = "campaign_id: fuzz\n" + "\n".join(lines) + "\n"
    if draw(st.booleans()):  # inside a nested field the model walks, not only at the top
        return (doc + f"brand:\n  banned_words_by_language:\n    en: *a{levels - 1}\n").encode()
    return (doc + f"{field}: *a{levels - 1}\n").encode()


@st.composite
def kit_data(draw) -> object:
    if draw(st.integers(0, 5)) == 0:
        return draw(any_values)
    keys = st.sampled_from(KIT_KEYS) | traversal | st.text(max_size=10)
    data = draw(st.dictionaries(keys, any_values, max_size=6))
    if draw(st.booleans()):
        data["logo"] = draw(traversal)
    if draw(st.booleans()):
        data["fonts"] = {"latin": draw(st.text(max_size=20) | controls), "hangul": draw(hangul)}
    if draw(st.booleans()):
        data["banned_words"] = draw(st.dictionaries(st.sampled_from(["all", "ko", "en", "fr", "../x"]),
                                                     st.lists(st.text(max_size=12) | hangul, max_size=3), max_size=3))
    return data


kit_files = st.one_of(
    st.binary(max_size=200),
    random_yaml(),
    kit_data().map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode() if _dumpable(d) else b"{}"),
)


def _dumpable(value) -> bool:
    try:
        yaml.safe_dump(value)
    except Exception:  # noqa: BLE001 - e.g. bytes keys; the strategy then writes an empty kit
        return False
    return True


upload_names = st.one_of(
    st.text(max_size=300), traversal, hangul.map(lambda s: s + ".mp4"),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=150), controls, st.text(max_size=150)),
    st.builds(lambda s, n, e: s * n + e, st.text(alphabet="x.", min_size=1, max_size=3), st.integers(30, 200),
              st.sampled_from([".png", ".mp4", ".tar.gz", "", "."])),
)
object_keys = st.one_of(
    st.text(max_size=80), traversal,
    st.lists(st.text(max_size=12) | st.sampled_from(TRAVERSAL_PIECES), min_size=1, max_size=5).map("/".join),
    st.lists(hangul, min_size=1, max_size=4).map("/".join),
)


def load_kit_file(brands: Path, name: str, raw: bytes) -> BrandKit:
    """Write `raw` as `<brands>/<name>.yaml` when the name is a plain file name, then load the kit by name."""
    if name and "/" not in name and "\\" not in name and "\x00" not in name and name not in (".", ".."):
        try:
            (brands / f"{name}.yaml").write_bytes(raw)
        except OSError:
            pass  # a name the filesystem refuses (too long); the loader must still answer clearly
    return load_brand_kit(name)


# ------------------------------------------------------------------------------------ the classes

SLOW_CPU_S = 2.0  # CPU seconds (not wall time: the box is shared) to accept or refuse one input; more is a DoS
_BRANDS = Path(tempfile.mkdtemp(prefix="sparklio-fuzz-brands-"))
atexit.register(shutil.rmtree, _BRANDS, ignore_errors=True)


@contextlib.contextmanager
def _brands_dir(path: Path):
    previous = os.environ.get("SPARKLIO_BRANDS_DIR")
    os.environ["SPARKLIO_BRANDS_DIR"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SPARKLIO_BRANDS_DIR", None)
        else:
            os.environ["SPARKLIO_BRANDS_DIR"] = previous


def _load_kit(pair) -> Outcome:
    with _brands_dir(_BRANDS):
        return run_kit(lambda: load_kit_file(_BRANDS, *pair))


def _huge(pair) -> Outcome:
    kind, payload = pair
    if kind == "file":
        return run_brief(lambda: parse_brief_bytes(payload, "brief.json"))
    return run_brief(lambda: parse_brief_data(payload))


@dataclass(frozen=True)
class BadInputClass:
    name: str
    strategy: st.SearchStrategy
    run: Callable[[object], Outcome]

    def check(self, value) -> Outcome:
        started = time.process_time()
        outcome = self.run(value)
        seconds = time.process_time() - started
        if seconds > SLOW_CPU_S and outcome.kind != "crash":
            return crash(f"took {seconds:.1f}s ({outcome.kind})")
        return outcome


CLASSES = [
    BadInputClass("random bytes as .yaml", st.binary(max_size=2000),
                  lambda raw: run_brief(lambda: parse_brief_bytes(raw, "brief.yaml"))),
    BadInputClass("random bytes as .json", st.binary(max_size=2000),
                  lambda raw: run_brief(lambda: parse_brief_bytes(raw, "brief.json"))),
    BadInputClass("random YAML", random_yaml(), lambda raw: run_brief(lambda: parse_brief_bytes(raw, "brief.yaml"))),
    BadInputClass("random JSON", random_json(), lambda raw: run_brief(lambda: parse_brief_bytes(raw, "brief.json"))),
    BadInputClass("wrong types", wrong_types(), lambda data: run_brief(lambda: parse_brief_data(data))),
    BadInputClass("huge strings", huge_strings(), _huge),
    BadInputClass("control characters", control_characters(), lambda data: run_brief(lambda: parse_brief_data(data))),
    BadInputClass("Hangul text", hangul_briefs(), lambda data: run_brief(lambda: parse_brief_data(data))),
    BadInputClass("path traversal in a brief", traversal_briefs(),
                  lambda data: run_brief(lambda: parse_brief_data(data))),
    BadInputClass("YAML alias bombs", alias_bombs(), lambda raw: run_brief(lambda: parse_brief_bytes(raw, "b.yaml"))),
    BadInputClass("brand kit data", kit_data(), lambda data: run_kit(lambda: kit_from_data(data, "fuzz kit", _BRANDS))),
    BadInputClass("brand kit files and names", st.tuples(
        st.sampled_from(["fuzzkit", "hanbit", "Fuzz", "fuzz kit"]) | traversal | st.text(max_size=20), kit_files),
        _load_kit),
    BadInputClass("upload names (sanitize_name)", upload_names, run_sanitize),
    BadInputClass("object keys (validate_key)", object_keys, run_validate_key),
]
