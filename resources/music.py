"""Music beds for videos: the resource interface, the embedded procedural composition and the
production music library.

Embedded (`ProceduralMusicResource`): a procedural composition, not a recording and not a model.
A chord progression, bass line, accompaniment figure and (for the livelier moods) a drum pattern
are chosen by the brief's tone and a seed, written as a Standard MIDI File by the tiny writer
below, and rendered to WAV by FluidSynth with Debian's General MIDI SoundFont (`fluidsynth`,
`fluid-soundfont-gm`). The same brief and seed always give the same notes and the same WAV.

Production (`LibraryMusicResource`): tracks a marketer uploaded under `music/` in the object store,
each with a sidecar tag file `<track>.json` ({"mood": "calm", "bpm": 80, "licence": "..."}), picked
by the tone's mood (or named in the brief as `music: <key>`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dagster import ConfigurableResource
from pydantic import Field

from resources.object_store import ObjectStoreResource
from sparklio_common.keys import MUSIC_LIBRARY_PREFIX as MUSIC_PREFIX

PROCEDURAL_LABEL = "procedural composition"
MOODS = ("calm", "warm", "upbeat", "corporate")
# Tone words (English and Korean stems) that point to each mood; `warm` is the default.
MOOD_WORDS: dict[str, tuple[str, ...]] = {
    "calm": ("calm", "relax", "gentle", "soft", "serene", "quiet", "peace", "차분", "편안", "잔잔", "고요", "평온"),
    "upbeat": ("upbeat", "energetic", "fun", "playful", "bold", "exciting", "lively", "bright", "신나", "활기",
               "경쾌", "발랄", "에너지"),
    "corporate": ("corporate", "professional", "confident", "science", "trust", "expert", "clinical", "premium",
                  "전문", "신뢰", "과학"),
    "warm": ("warm", "friendly", "cozy", "kind", "honest", "따뜻", "친근", "다정", "포근", "솔직"),
}
SOUNDFONT_PATHS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".flac")
TAG_SUFFIX = ".json"


class MusicError(RuntimeError):
    """A music bed could not be made: no FluidSynth/SoundFont, an unknown track, an empty library."""


@dataclass
class MusicBed:
    wav: bytes  # audio file bytes (WAV from the composer; whatever ffmpeg reads from the library)
    suffix: str  # file suffix of `wav`, e.g. ".wav" or ".mp3"
    source: str  # PROCEDURAL_LABEL or "library"
    title: str
    mood: str
    bpm: float
    bar_s: float  # one bar: the render fades the bed out over the last one
    licence: str
    seconds: float  # wall time spent making it
    details: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {"source": self.source, "title": self.title, "mood": self.mood, "bpm": round(self.bpm, 1),
                "licence": self.licence, **self.details}


def mood_for_tone(tone: str) -> str:
    """The mood a brief's tone asks for: the mood with the most matching words (ties: first listed)."""
    text = (tone or "").casefold()
    scores = {mood: sum(text.count(word) for word in words) for mood, words in MOOD_WORDS.items()}
    best = max(MOODS, key=lambda mood: scores[mood])
    return best if scores[best] else "warm"


class MusicResource(ConfigurableResource):
    """A music bed for a video of `duration_s` seconds."""

    @property
    def backend_label(self) -> str:
        raise NotImplementedError

    def bed(self, tone: str, duration_s: float, seed: int, *, track: str | None = None) -> MusicBed:
        """`track`: an object key under music/ the brief names; None picks by tone."""
        raise NotImplementedError


# --- the procedural composition ----------------------------------------------------------------

TICKS = 480  # per quarter note
PERCUSSION_CHANNEL = 9


@dataclass(frozen=True)
class MoodStyle:
    bpm: tuple[int, int]  # range; the seed picks within it
    progressions: tuple[tuple[int, ...], ...]  # scale degrees (0 = I) of one chord per bar
    pad: int  # General MIDI programs (0-based)
    accompaniment: int
    bass: int
    figure: str  # accompaniment: "arpeggio", "broken", "stabs" or "strum"
    drums: str  # "", "soft" or "groove"
    velocity: int


STYLES: dict[str, MoodStyle] = {
    "calm": MoodStyle((68, 76), ((0, 5, 3, 4), (0, 3, 5, 4), (5, 3, 0, 4)), pad=89, accompaniment=0, bass=32,
                      figure="arpeggio", drums="", velocity=54),
    "warm": MoodStyle((84, 94), ((0, 4, 5, 3), (0, 5, 3, 4), (3, 0, 4, 5)), pad=48, accompaniment=25, bass=33,
                      figure="broken", drums="soft", velocity=62),
    "upbeat": MoodStyle((112, 122), ((0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 4, 4)), pad=50, accompaniment=4, bass=38,
                        figure="stabs", drums="groove", velocity=76),
    "corporate": MoodStyle((98, 106), ((0, 3, 5, 4), (5, 3, 0, 4), (0, 5, 3, 4)), pad=49, accompaniment=0,
                           bass=33, figure="strum", drums="soft", velocity=66),
}
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
KEY_ROOTS = {"C": 60, "D": 62, "E♭": 63, "F": 65, "G": 67, "A": 57, "B♭": 58}


def chord_notes(root_midi: int, degree: int) -> list[int]:
    """The diatonic triad on `degree` of the major scale starting at `root_midi`."""
    notes = []
    for step in (0, 2, 4):
        index = degree + step
        notes.append(root_midi + MAJOR_SCALE[index % 7] + 12 * (index // 7))
    return notes


@dataclass
class Composition:
    midi: bytes
    mood: str
    bpm: int
    key: str
    progression: list[str]
    bars: int

    @property
    def bar_s(self) -> float:
        return 4 * 60.0 / self.bpm


def _var_len(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def write_midi(events: list[tuple[int, int, bytes]], bpm: int) -> bytes:
    """A type-0 Standard MIDI File from (tick, order, message) events."""
    tempo = round(60_000_000 / bpm)
    track = bytearray(b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big") + b"\x00\xff\x58\x04\x04\x02\x18\x08")
    last = 0
    for tick, _order, message in sorted(events):
        track += _var_len(tick - last) + message
        last = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def compose(tone: str, duration_s: float, seed: int) -> Composition:
    """Notes for a bed at least `duration_s` long, chosen by the tone's mood and the seed."""
    if duration_s <= 0:
        raise MusicError(f"music needs a positive duration, got {duration_s}")
    mood = mood_for_tone(tone)
    style = STYLES[mood]
    digest = hashlib.sha256(f"{mood}|{tone}|{seed}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    bpm = rng.randint(*style.bpm)
    key = rng.choice(sorted(KEY_ROOTS))
    root = KEY_ROOTS[key]
    progression = rng.choice(style.progressions)
    bar_ticks = 4 * TICKS
    bars = math.ceil(duration_s / (4 * 60.0 / bpm)) + 1  # one spare bar: the render trims and fades
    events: list[tuple[int, int, bytes]] = []

    def note(tick: int, channel: int, pitch: int, length: int, velocity: int) -> None:
        velocity = max(1, min(127, velocity + rng.randint(-5, 5)))  # a human hand is never exact
        events.append((tick, 1, bytes([0x90 | channel, pitch, velocity])))
        events.append((tick + max(1, length), 0, bytes([0x80 | channel, pitch, 0])))

    for channel, program, volume in ((0, style.pad, 82), (1, style.accompaniment, 96), (2, style.bass, 100)):
        events += [(0, 0, bytes([0xC0 | channel, program])), (0, 0, bytes([0xB0 | channel, 7, volume])),
                   (0, 0, bytes([0xB0 | channel, 91, 50]))]
    names = ["I", "ii", "iii", "IV", "V", "vi", "vii°"]
    velocity = style.velocity
    for bar in range(bars):
        start = bar * bar_ticks
        last_bar = bar == bars - 1
        degree = 0 if last_bar else progression[bar % len(progression)]
        triad = chord_notes(root, degree)
        for pitch in triad:  # pad: the chord held through the bar
            note(start, 0, pitch, bar_ticks, velocity - 10)
        bass_root = triad[0] - 24 if triad[0] - 24 >= 28 else triad[0] - 12
        bass_hits = (0,) if last_bar or style.figure == "arpeggio" else (0, 2 * TICKS) if mood != "upbeat" else (
            0, TICKS + TICKS // 2, 2 * TICKS, 3 * TICKS)
        for beat in bass_hits:
            note(start + beat, 2, bass_root, TICKS * (4 if len(bass_hits) == 1 else 1), velocity)
        if last_bar:
            for pitch in (triad[0] + 12, *triad):  # a final tonic chord rings out under the fade
                note(start, 1, pitch, bar_ticks, velocity - 8)
            continue
        upper = [*triad, triad[0] + 12, triad[1] + 12]
        if style.figure == "arpeggio":  # eighth notes up and down the chord
            order = [0, 1, 2, 3, 4, 3, 2, 1]
            for step, index in enumerate(order):
                note(start + step * TICKS // 2, 1, upper[index], TICKS, velocity - 6)
        elif style.figure == "broken":  # picked: root, then the upper notes
            for step, index in enumerate([0, 2, 3, 2, 1, 2, 3, 4]):
                note(start + step * TICKS // 2, 1, upper[index] - 12, TICKS // 2 + 60, velocity - 4)
        elif style.figure == "stabs":  # off-beat chords
            for beat in (TICKS // 2, TICKS + TICKS // 2, 2 * TICKS + TICKS // 2, 3 * TICKS + TICKS // 2):
                for pitch in upper[1:4]:
                    note(start + beat, 1, pitch, TICKS // 3, velocity - 8)
        else:  # strum: quarter-note chords, the first of the bar a little louder
            for beat in range(4):
                for pitch in upper[:4]:
                    note(start + beat * TICKS + 8 * upper.index(pitch), 1, pitch, TICKS - 40,
                         velocity - (0 if beat == 0 else 12))
        if style.drums:
            for eighth in range(8):
                tick = start + eighth * TICKS // 2
                note(tick, PERCUSSION_CHANNEL, 42, TICKS // 4, velocity - (28 if eighth % 2 else 18))  # closed hat
            kicks = (0, 2 * TICKS) if style.drums == "soft" else (0, TICKS + TICKS // 2, 2 * TICKS)
            for beat in kicks:
                note(start + beat, PERCUSSION_CHANNEL, 36, TICKS // 2, velocity - 4)
            snare = 37 if style.drums == "soft" else 38  # side stick, or snare
            for beat in (TICKS, 3 * TICKS):
                note(start + beat, PERCUSSION_CHANNEL, snare, TICKS // 2, velocity - (16 if style.drums == "soft" else 6))
    return Composition(midi=write_midi(events, bpm), mood=mood, bpm=bpm, key=f"{key} major",
                       progression=[names[d] for d in progression], bars=bars)


def find_soundfont(configured: str = "") -> Path:
    for candidate in ([configured] if configured else []) + list(SOUNDFONT_PATHS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise MusicError("General MIDI SoundFont missing: apt-get install fluid-soundfont-gm "
                     "(or set SPARKLIO_SOUNDFONT to a .sf2 file)")


def render_midi(midi: bytes, soundfont: Path, *, fluidsynth: str = "", gain: float = 0.5,
                timeout_s: float = 120) -> bytes:
    """MIDI to a 48 kHz stereo WAV with FluidSynth's offline renderer (no audio device)."""
    binary = fluidsynth or shutil.which("fluidsynth")
    if not binary:
        raise MusicError("FluidSynth missing: apt-get install fluidsynth")
    with tempfile.TemporaryDirectory(prefix="sparklio-music-") as tmp:
        mid, wav = Path(tmp) / "bed.mid", Path(tmp) / "bed.wav"
        mid.write_bytes(midi)
        cmd = [binary, "-n", "-i", "-q", "-g", f"{gain:.2f}", "-r", "48000", "-O", "s16", "-T", "wav",
               "-F", str(wav), str(soundfont), str(mid)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False,
                                  env={**os.environ, "HOME": tmp})  # no user config changes the sound
        except subprocess.TimeoutExpired:
            raise MusicError(f"FluidSynth timed out after {timeout_s:.0f} s") from None
        if done.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
            raise MusicError("FluidSynth failed: " + done.stderr.decode(errors="replace").strip()[-300:])
        return wav.read_bytes()


class ProceduralMusicResource(MusicResource):
    """A procedural composition per campaign (MIDI by Python, rendered by FluidSynth)."""

    soundfont: str = Field(default="", description="General MIDI .sf2. Empty: Debian's FluidR3_GM")
    fluidsynth_bin: str = Field(default="", description="FluidSynth executable. Empty: fluidsynth on PATH")

    @property
    def backend_label(self) -> str:
        return f"{PROCEDURAL_LABEL} (FluidSynth, {find_soundfont(self.soundfont).name})"

    def bed(self, tone: str, duration_s: float, seed: int, *, track: str | None = None) -> MusicBed:
        if track:
            raise MusicError(f"the brief names the library track {track!r}, but this setup composes its music; "
                             "set SPARKLIO_MUSIC=library to play tracks from music/, or remove `music:`")
        started = time.perf_counter()
        piece = compose(tone, duration_s, seed)
        wav = render_midi(piece.midi, find_soundfont(self.soundfont), fluidsynth=self.fluidsynth_bin)
        return MusicBed(
            wav=wav, suffix=".wav", source=PROCEDURAL_LABEL,
            title=f"{piece.mood} {piece.key} {'-'.join(piece.progression)} at {piece.bpm} BPM",
            mood=piece.mood, bpm=piece.bpm, bar_s=piece.bar_s, licence="generated for this campaign",
            seconds=time.perf_counter() - started,
            details={"key": piece.key, "progression": piece.progression, "bars": piece.bars, "seed": seed,
                     "soundfont": find_soundfont(self.soundfont).name,
                     "midi_sha256": hashlib.sha256(piece.midi).hexdigest()[:16]},
        )


# --- the music library -------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryTrack:
    key: str
    mood: str
    bpm: float
    licence: str
    title: str


def parse_tags(track_key: str, raw: bytes) -> LibraryTrack:
    """A track's sidecar tag file: mood (one of MOODS), bpm, licence; title optional."""
    try:
        tags = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MusicError(f"{track_key}: tag file is not JSON ({exc})") from None
    if not isinstance(tags, dict):
        raise MusicError(f"{track_key}: tag file must be a JSON object with mood, bpm, licence")
    problems = []
    mood = str(tags.get("mood", "")).strip().lower()
    if mood not in MOODS:
        problems.append(f"mood must be one of {', '.join(MOODS)}")
    bpm = tags.get("bpm")
    if not isinstance(bpm, (int, float)) or not 30 <= bpm <= 240:
        problems.append("bpm must be a number from 30 to 240")
    licence = str(tags.get("licence") or tags.get("license") or "").strip()
    if not licence:
        problems.append("licence is required (who may use the track, and how)")
    if problems:
        raise MusicError(f"{track_key}: " + "; ".join(problems))
    title = str(tags.get("title") or PurePosixPath(track_key).stem)
    return LibraryTrack(key=track_key, mood=mood, bpm=float(bpm), licence=licence, title=title)


def pick_track(tracks: list[LibraryTrack], mood: str, seed: int) -> LibraryTrack:
    """A track of the mood (the seed picks among several), else any track."""
    if not tracks:
        raise MusicError(f"the music library is empty: upload tracks to {MUSIC_PREFIX}/ with a .json tag file "
                         "(mood, bpm, licence), or set `music: none` in the brief")
    ordered = sorted(tracks, key=lambda t: t.key)
    matching = [t for t in ordered if t.mood == mood] or ordered
    return matching[seed % len(matching)]


class LibraryMusicResource(MusicResource):
    """Tracks from `music/` in the object store, each with a `<track>.json` tag file."""

    object_store: ObjectStoreResource
    prefix: str = Field(default=MUSIC_PREFIX)

    @property
    def backend_label(self) -> str:
        return f"music library ({self.prefix}/)"

    def tracks(self) -> list[LibraryTrack]:
        infos = {info.key for info in self.object_store.list(self.prefix + "/")}
        tracks = []
        for key in sorted(infos):
            if PurePosixPath(key).suffix.lower() in AUDIO_SUFFIXES:
                tag_key = str(PurePosixPath(key).with_suffix(TAG_SUFFIX))
                if tag_key in infos:  # an untagged track is not offered: its licence is unknown
                    tracks.append(parse_tags(key, self.object_store.get_bytes(tag_key)))
        return tracks

    def bed(self, tone: str, duration_s: float, seed: int, *, track: str | None = None) -> MusicBed:
        started = time.perf_counter()
        tracks = self.tracks()
        if track:
            named = [t for t in tracks if t.key in (track, f"{self.prefix}/{track}")]
            if not named:
                offered = ", ".join(t.key for t in tracks[:10]) or "none"
                raise MusicError(f"no tagged track {track!r} in {self.prefix}/ (tagged tracks: {offered})")
            chosen = named[0]
        else:
            chosen = pick_track(tracks, mood_for_tone(tone), seed)
        audio = self.object_store.get_bytes(chosen.key)
        return MusicBed(
            wav=audio, suffix=PurePosixPath(chosen.key).suffix.lower(), source="library", title=chosen.title,
            mood=chosen.mood, bpm=chosen.bpm, bar_s=4 * 60.0 / chosen.bpm, licence=chosen.licence,
            seconds=time.perf_counter() - started, details={"key": chosen.key},
        )
