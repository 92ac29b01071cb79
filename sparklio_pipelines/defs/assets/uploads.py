"""`uploaded_video_captions`: captions for a video a marketer dropped into `uploads/video/`.

Each accepted upload is a partition of its own. Outputs go to `uploads/captions/<partition>/`:
SRT, VTT, ASS, word JSON, the captioned MP4, and a manifest.json listing them.
"""

import json
import tempfile
from pathlib import Path, PurePosixPath

import dagster as dg

from resources.object_store import ObjectStoreResource
from resources.transcription import TranscriberResource
from sparklio_common.keys import UPLOAD_CAPTIONS_PREFIX, join_key, upload_caption_key
from sparklio_pipelines.content.captions.captioning import caption_video
from sparklio_pipelines.defs.assets.common import service_asset
from sparklio_pipelines.defs.partitions import upload_partitions


def find_source(store: ObjectStoreResource, partition: str) -> str | None:
    prefix = join_key(UPLOAD_CAPTIONS_PREFIX, partition) + "/"
    return next((o.key for o in store.list(prefix, recursive=False) if PurePosixPath(o.key).stem == "source"), None)


@service_asset(
    partitions_def=upload_partitions,
    group_name="uploads",
    kinds={"srt", "vtt", "mp4"},
    gpu=True,
    description="Captions (SRT, VTT, word JSON, burned-in MP4) for an uploaded video.",
)
def uploaded_video_captions(
    context: dg.AssetExecutionContext, transcriber: TranscriberResource, object_store: ObjectStoreResource
) -> dg.MaterializeResult:
    partition = context.partition_key
    source_key = find_source(object_store, partition)
    if source_key is None:
        raise dg.Failure(f"No source video stored for upload {partition!r}", allow_retries=False)
    outputs = []
    with tempfile.TemporaryDirectory(prefix="sparklio-upload-") as tmp:
        work = Path(tmp)
        source = object_store.download(source_key, work / f"source{PurePosixPath(source_key).suffix}")
        result = caption_video(source, work, transcriber=transcriber, language=None)
        for kind, path in result.files.items():
            stored = object_store.put_file(upload_caption_key(partition, kind), path)
            outputs.append({"key": stored.key, "sha256": stored.sha256, "bytes": stored.size,
                            "media_type": stored.media_type})
    manifest = {"upload": partition, "source": source_key, "outputs": outputs}
    manifest_key = join_key(UPLOAD_CAPTIONS_PREFIX, partition, "manifest.json")
    object_store.put_bytes(manifest_key, json.dumps(manifest, ensure_ascii=False, indent=2).encode(), "application/json")
    burned = upload_caption_key(partition, "burned")
    return dg.MaterializeResult(metadata={
        "captioned_video": dg.MetadataValue.url(object_store.url(burned)),
        "manifest": dg.MetadataValue.path(manifest_key),
        "transcript": result.transcript_text[:2000],
        "cues": result.cue_count,
        "coverage": round(result.coverage, 3),
        "transcribe_seconds": round(result.transcribe_seconds, 2),
    })
