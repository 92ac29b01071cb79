"""Music beds: the procedural composition (real FluidSynth, Debian's GM SoundFont) and the music library."""

from __future__ import annotations

import hashlib
import io
import json
import wave

import pytest

from resources.music import (
    LibraryMusicResource,
    MusicError,
    ProceduralMusicResource,
    compose,
    mood_for_tone,
    parse_tags,
)


def test_tone_picks_a_mood_in_english_and_korean():
    assert mood_for_tone("calm, gentle and serene") == "calm"
    assert mood_for_tone("따뜻하고 친근한") == "warm"
    assert mood_for_tone("energetic, playful") == "upbeat"
    assert mood_for_tone("professional, science-backed") == "corporate"
    assert mood_for_tone("mysterious") == "warm"  # nothing matches: the default


def test_composition_is_deterministic_for_a_tone_and_seed():
    first, again, other = compose("warm", 20, 7), compose("warm", 20, 7), compose("warm", 20, 8)
    assert first.midi == again.midi
    assert first.midi[:4] == b"MThd" and b"MTrk" in first.midi
    assert other.midi != first.midi or other.key != first.key
    assert first.bars * first.bar_s >= 20  # it covers the video


def test_moods_differ_in_tempo_and_notes():
    calm, upbeat = compose("calm", 16, 1), compose("upbeat, fun", 16, 1)
    assert calm.bpm < 80 < 110 < upbeat.bpm
    assert b"\x99" in upbeat.midi  # note-ons on the percussion channel: drums
    assert b"\x99" not in calm.midi


def test_fluidsynth_renders_music_deterministically():
    music = ProceduralMusicResource()
    bed, again = music.bed("warm and friendly", 12, 3), music.bed("warm and friendly", 12, 3)
    assert hashlib.sha256(bed.wav).digest() == hashlib.sha256(again.wav).digest()
    with wave.open(io.BytesIO(bed.wav)) as reader:
        assert reader.getframerate() == 48000 and reader.getnchannels() == 2
        seconds = reader.getnframes() / reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    assert seconds >= 12
    assert max(frames) > 0 and len(set(frames[::997])) > 50  # sound, not silence
    assert bed.source == "procedural composition" and bed.metadata()["source"] == "procedural composition"
    assert bed.mood == "warm" and 80 <= bed.bpm <= 100


def test_procedural_music_refuses_a_library_track_clearly():
    with pytest.raises(MusicError, match="SPARKLIO_MUSIC=library"):
        ProceduralMusicResource().bed("warm", 10, 0, track="music/rain.mp3")


def test_tag_files_are_validated():
    with pytest.raises(MusicError, match="mood must be one of"):
        parse_tags("music/a.wav", b'{"mood": "sad", "bpm": 90, "licence": "CC0"}')
    with pytest.raises(MusicError, match="licence is required"):
        parse_tags("music/a.wav", b'{"mood": "calm", "bpm": 90}')
    with pytest.raises(MusicError, match="not JSON"):
        parse_tags("music/a.wav", b"mood: calm")


@pytest.fixture()
def library(local_store):
    music = ProceduralMusicResource()
    for name, tone in (("rain", "calm"), ("sunrise", "upbeat"), ("untagged", "warm")):
        local_store.put_bytes(f"music/{name}.wav", music.bed(tone, 4, 0).wav, "audio/wav")
    for name, mood in (("rain", "calm"), ("sunrise", "upbeat")):
        tags = {"mood": mood, "bpm": 80 if mood == "calm" else 120, "licence": "CC0, Sparklio test"}
        local_store.put_bytes(f"music/{name}.json", json.dumps(tags).encode())
    return LibraryMusicResource(object_store=local_store)


def test_library_picks_a_tagged_track_by_tone(library):
    assert [t.key for t in library.tracks()] == ["music/rain.wav", "music/sunrise.wav"]  # untagged is not offered
    calm = library.bed("차분하고 편안한", 20, 5)
    assert calm.details["key"] == "music/rain.wav" and calm.licence == "CC0, Sparklio test" and calm.bpm == 80
    named = library.bed("calm", 20, 5, track="music/sunrise.wav")
    assert named.details["key"] == "music/sunrise.wav" and named.mood == "upbeat"
    with pytest.raises(MusicError, match="no tagged track 'music/untagged.wav'"):
        library.bed("calm", 20, 5, track="music/untagged.wav")


def test_empty_library_says_what_to_do(local_store):
    with pytest.raises(MusicError, match="upload tracks to music/"):
        LibraryMusicResource(object_store=local_store).bed("calm", 10, 0)
