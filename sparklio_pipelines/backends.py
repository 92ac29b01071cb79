"""Pick each service's backend from the environment. The asset code never changes.

No variable set: the embedded default (local objects, embedded Postgres, PyPI models).
`SPARKLIO_S3_ENDPOINT` selects S3/MinIO; `DATABASE_URL` selects a Postgres server.
Values are passed as `EnvVar`, so secrets never appear in the Dagster UI or in code.
"""

from __future__ import annotations

import os

from dagster import EnvVar

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource, MiniLMEmbedderResource
from resources.image_generation import ImageGeneratorResource, ProceduralArtResource
from resources.llm import EmbeddedLLMResource, LLMResource
from resources.object_store import LocalObjectStoreResource, ObjectStoreResource, S3ObjectStoreResource
from resources.speech import LocalSpeechResource, SpeechResource
from resources.transcription import TranscriberResource, WhisperTranscriberResource


def env_or(name: str, default):
    """`EnvVar(name)` when the variable is set, else the default (EnvVar fails on unset names)."""
    return EnvVar(name) if os.environ.get(name) else default


def object_store_resource() -> ObjectStoreResource:
    if os.environ.get("SPARKLIO_S3_ENDPOINT"):
        return S3ObjectStoreResource(
            endpoint_url=EnvVar("SPARKLIO_S3_ENDPOINT"),
            bucket=env_or("SPARKLIO_S3_BUCKET", "sparklio"),
            access_key_id=env_or("SPARKLIO_S3_ACCESS_KEY_ID", ""),
            secret_access_key=env_or("SPARKLIO_S3_SECRET_ACCESS_KEY", ""),
            region_name=env_or("SPARKLIO_S3_REGION", "us-east-1"),
        )
    return LocalObjectStoreResource(root=env_or("SPARKLIO_OBJECTS_DIR", ""))


def campaign_db_resource() -> CampaignDatabaseResource:
    return CampaignDatabaseResource(database_url=env_or("DATABASE_URL", ""))


def llm_resource() -> LLMResource:
    return EmbeddedLLMResource(model_path=env_or("SPARKLIO_GGUF_PATH", ""))


def image_generator_resource() -> ImageGeneratorResource:
    return ProceduralArtResource()


def speech_resource() -> SpeechResource:
    return LocalSpeechResource()


def transcriber_resource() -> TranscriberResource:
    return WhisperTranscriberResource(model_dir=env_or("SPARKLIO_WHISPER_MODEL_DIR", ""))


def embedder_resource() -> EmbedderResource:
    return MiniLMEmbedderResource()


def build_resources() -> dict:
    return {
        "object_store": object_store_resource(),
        "campaign_db": campaign_db_resource(),
        "llm": llm_resource(),
        "image_generator": image_generator_resource(),
        "speech": speech_resource(),
        "transcriber": transcriber_resource(),
        "embedder": embedder_resource(),
    }
