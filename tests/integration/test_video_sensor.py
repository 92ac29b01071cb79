"""Tier 3: video_upload_sensor quarantines bad uploads and captions a real one."""

import subprocess
from pathlib import Path

import dagster as dg

from sensors.video_upload import VIDEO_INBOX, video_upload_sensor
from sparklio_pipelines.content.media import ffmpeg_bin


def make_video(path: Path, *, speech: str | None, seconds: float = 4.0) -> Path:
    """A small real video: a colour source, plus espeak-ng speech when asked."""
    cmd = [ffmpeg_bin(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"color=c=navy:s=320x568:d={seconds}"]
    if speech is not None:
        wav = path.with_suffix(".wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), speech], check=True)
        cmd += ["-i", str(wav), "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    return path


def tick(store, instance, cursor=None) -> dg.SensorResult:
    # The context is a context manager; closing it releases the instance it entered.
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"object_store": store}) as context:
        result = video_upload_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_bad_uploads_are_quarantined_with_reasons(any_store, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKLIO_MAX_VIDEO_MB", "0.5")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    silent = make_video(tmp_path / "silent.mp4", speech=None)
    big = tmp_path / "big.mov"
    big.write_bytes(b"\x00" * (600 * 1024))
    for path in (corrupt, silent, big):
        any_store.put_file(VIDEO_INBOX + path.name, path)
    any_store.put_bytes(VIDEO_INBOX + "notes.docx", b"not a video")

    result = tick(any_store, dg.DagsterInstance.ephemeral())
    assert result.run_requests == []
    reasons = {
        name: any_store.get_bytes(f"{VIDEO_INBOX}rejected/{name}.error.txt").decode()
        for name in ("corrupt.mp4", "silent.mp4", "big.mov", "notes.docx")
    }
    assert "not a readable video" in reasons["corrupt.mp4"]
    assert "no audio stream" in reasons["silent.mp4"]
    assert "limit is" in reasons["big.mov"] and "MB" in reasons["big.mov"]
    assert "not a video file" in reasons["notes.docx"]
    assert list(any_store.list(VIDEO_INBOX, recursive=False)) == []


def test_long_video_is_refused_by_duration(local_store, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKLIO_MAX_VIDEO_SECONDS", "2")
    local_store.put_file(VIDEO_INBOX + "long.mp4", make_video(tmp_path / "long.mp4", speech="hello", seconds=4))
    assert tick(local_store, dg.DagsterInstance.ephemeral()).run_requests == []
    assert "limit is 2 s" in local_store.get_bytes(f"{VIDEO_INBOX}rejected/long.mp4.error.txt").decode()


def test_real_video_with_speech_gets_captions(s3_store, tmp_path):
    from resources.transcription import WhisperTranscriberResource
    from sparklio_pipelines.defs.assets.uploads import uploaded_video_captions

    video = make_video(tmp_path / "our new tea.mp4", speech="Our new barley tea is nutty, warm and caffeine free.",
                       seconds=5)
    s3_store.put_file(VIDEO_INBOX + "우리 차 our new tea.mp4", video)
    instance = dg.DagsterInstance.ephemeral()
    result = tick(s3_store, instance)
    [request] = result.run_requests
    partition = request.partition_key
    assert instance.has_dynamic_partition("uploaded_video", partition)
    assert "/" not in partition and " " not in partition

    done = dg.materialize(
        [uploaded_video_captions], partition_key=partition, instance=instance,
        resources={"object_store": s3_store, "transcriber": WhisperTranscriberResource()},
    )
    assert done.success
    prefix = f"uploads/captions/{partition}/"
    names = {o.key.removeprefix(prefix) for o in s3_store.list(prefix)}
    assert {"captions.srt", "captions.vtt", "words.json", "captioned.mp4", "manifest.json"} <= names
    srt = s3_store.get_bytes(prefix + "captions.srt").decode().lower()
    assert "tea" in srt and "-->" in srt

    tick(s3_store, instance, result.cursor)  # settles the upload out of the inbox
    assert list(s3_store.list(VIDEO_INBOX, recursive=False)) == []
