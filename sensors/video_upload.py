"""`video_upload_sensor`: a video dropped into `uploads/video/` gets captions.

The upload is checked first (a real video with an audio stream, within the size and duration
limits); a bad one goes to `uploads/video/rejected/` with its reason.
"""

from pathlib import PurePosixPath

import dagster as dg

from resources.object_store import ObjectStoreResource
from sensors.inbox import Inbox, InboxCursor, version_of
from sparklio_common.keys import sanitize_name, upload_source_key
from sparklio_common.settings import settings
from sparklio_pipelines.content.media import MediaError, probe, summarize
from sparklio_pipelines.defs.jobs import upload_captions_job
from sparklio_pipelines.defs.partitions import upload_partitions

VIDEO_INBOX = "uploads/video/"
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".m4v", ".mkv")
BATCH_LIMIT = 10

def upload_limits() -> tuple[int, float]:
    """(max bytes, max seconds), configured by SPARKLIO_MAX_VIDEO_MB and SPARKLIO_MAX_VIDEO_SECONDS."""
    configured = settings()
    return int(configured.max_video_mb * 1024 * 1024), configured.max_video_seconds


def upload_problems(store: ObjectStoreResource, key: str, size: int) -> tuple[list[str], dict]:
    """Everything wrong with an uploaded video (empty when it can be captioned), plus its facts."""
    max_bytes, max_seconds = upload_limits()
    if not key.lower().endswith(VIDEO_SUFFIXES):
        return [f"not a video file: expected one of {', '.join(VIDEO_SUFFIXES)}"], {}
    if size > max_bytes:
        return [f"is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB"], {}
    try:
        facts = summarize(probe(store.url(key, expires_s=300)))  # ffprobe reads the object by URL
    except MediaError as exc:
        return [f"not a readable video: {exc}"], {}
    problems = []
    if not facts["video_codec"]:
        problems.append("has no video stream")
    if not facts["has_audio"]:
        problems.append("has no audio stream, so there is no speech to caption")
    if facts["duration_s"] <= 0.5:
        problems.append(f"is too short ({facts['duration_s']:.1f} s)")
    if facts["duration_s"] > max_seconds:
        problems.append(f"is {facts['duration_s']:.0f} s long; the limit is {max_seconds:.0f} s")
    return problems, facts


def upload_partition_key(key: str, version: str) -> str:
    stem = sanitize_name(PurePosixPath(key).stem, default="video")[:60]
    digest = "".join(ch for ch in version if ch.isalnum())[-8:] or "v"
    return f"{stem}-{digest}"


@dg.sensor(
    job=upload_captions_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Checks videos dropped into uploads/video/ and captions them; bad uploads go to rejected/.",
)
def video_upload_sensor(context: dg.SensorEvaluationContext, object_store: ObjectStoreResource) -> dg.SensorResult:
    inbox = Inbox(object_store, VIDEO_INBOX)
    cursor = InboxCursor.parse(context.cursor)
    inbox.settle(cursor)
    pending, run_requests, partitions = {}, [], []
    for info in inbox.new_files(BATCH_LIMIT):
        try:
            problems, facts = upload_problems(object_store, info.key, info.size)
            if problems:
                inbox.reject(info, problems)
                context.log.info(f"{info.key}: rejected: {'; '.join(problems)}")
                continue
            version = version_of(info)
            partition = upload_partition_key(info.key, version)
            object_store.copy(info.key, upload_source_key(partition, PurePosixPath(info.key).suffix.lower()))
            pending[info.key] = version
            partitions.append(partition)
            run_requests.append(dg.RunRequest(run_key=f"video:{info.key}@{version}", partition_key=partition,
                                              tags={"sparklio/source": info.key[:200]}))
        except Exception as exc:  # one bad object never stops the others
            context.log.warning(f"{info.key}: skipped this tick: {exc}")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[upload_partitions.build_add_request(partitions)] if partitions else [],
        cursor=InboxCursor(pending=pending, ticks=cursor.ticks + 1).dump(),
    )
