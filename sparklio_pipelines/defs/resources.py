"""Pick each service's backend from the environment. The asset code never changes.

`SPARKLIO_PROFILE=embedded` (the default): no variable set gives the embedded parts (local objects,
embedded Postgres, PyPI models); a service variable that is set still selects that service
(`SPARKLIO_S3_ENDPOINT`, `DATABASE_URL`, `OLLAMA_HOST`, `COMFYUI_URL`, `SPARKLIO_TTS_URL`), so mixed
setups work.
`SPARKLIO_PROFILE=production`: every service variable is required and loading the definitions fails
at once, naming every missing one; nothing ever falls back to an embedded part.
Values are passed as `EnvVar`, so secrets never appear in the Dagster UI or in code.
"""

from __future__ import annotations

import os

from dagster import EnvVar

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource, MiniLMEmbedderResource
from resources.image_generation import ImageGeneratorResource, ProceduralArtResource
from resources.llm import EmbeddedLLMResource, LLMResource
from resources.music import LibraryMusicResource, MusicResource, ProceduralMusicResource
from resources.object_store import (
    LocalObjectStoreResource,
    ObjectStoreResource,
    S3ObjectStoreResource,
)
from resources.speech import LocalSpeechResource, ServiceSpeechResource, SpeechResource
from resources.transcription import TranscriberResource, WhisperTranscriberResource
from sparklio_common.settings import settings

PROFILE_ENV = "SPARKLIO_PROFILE"
PROFILES = ("embedded", "production")
# What production cannot run without: each names the service it selects.
PRODUCTION_REQUIRED = {
    "OLLAMA_HOST": "Ollama on the Desktop (copy)",
    "COMFYUI_URL": "ComfyUI on the Desktop (images, clips)",
    "SPARKLIO_S3_ENDPOINT": "MinIO on the Mac mini (media)",
    "SPARKLIO_S3_ACCESS_KEY_ID": "MinIO access key",
    "SPARKLIO_S3_SECRET_ACCESS_KEY": "MinIO secret key",
    "DATABASE_URL": "Postgres + pgvector on the Mac mini (metadata, brand memory)",
    "SPARKLIO_TTS_URL": "the TTS server on the Desktop (voiceover)",
}


class ProfileError(RuntimeError):
    """The production profile is missing services, or the profile name is unknown."""


def active_profile() -> str:
    profile = settings().profile
    if profile not in PROFILES:
        raise ProfileError(f"{PROFILE_ENV} must be one of {', '.join(PROFILES)}, got {profile!r}")
    return profile


def check_profile() -> str:
    """The active profile; in production, one error that lists every missing variable."""
    profile = active_profile()
    if profile == "production":
        missing = [f"{name} ({what})" for name, what in PRODUCTION_REQUIRED.items() if not os.environ.get(name)]
        if missing:
            raise ProfileError(
                "SPARKLIO_PROFILE=production needs these variables, which are not set: " + "; ".join(missing)
                + ". Set them in .env (see .env.example), or use SPARKLIO_PROFILE=embedded on a single machine."
            )
    return profile


def env_or(name: str, default):
    """`EnvVar(name)` when the variable is set, else the default (EnvVar fails on unset names)."""
    return EnvVar(name) if os.environ.get(name) else default


def env_int_or(name: str, default: int):
    """`EnvVar.int(name)` when the variable is set, else the default."""
    return EnvVar.int(name) if os.environ.get(name) else default


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
    if os.environ.get("OLLAMA_HOST"):
        from resources.ollama_llm import OllamaLLMResource

        return OllamaLLMResource(
            host=EnvVar("OLLAMA_HOST"),
            draft_model=env_or("SPARKLIO_OLLAMA_DRAFT_MODEL", "qwen2.5:7b"),
            final_model=env_or("SPARKLIO_OLLAMA_FINAL_MODEL", "qwen2.5:14b"),
            timeout_seconds=env_int_or("SPARKLIO_OLLAMA_TIMEOUT_SECONDS", 180),
            keep_alive=env_or("SPARKLIO_OLLAMA_KEEP_ALIVE", "5m"),
            context_tokens=env_int_or("SPARKLIO_OLLAMA_CONTEXT_TOKENS", 16384),
        )
    return EmbeddedLLMResource(model_path=env_or("SPARKLIO_GGUF_PATH", ""))


def image_generator_resource() -> ImageGeneratorResource:
    if os.environ.get("COMFYUI_URL"):
        from resources.comfyui import ComfyUIImageResource

        return ComfyUIImageResource(
            url=EnvVar("COMFYUI_URL"),
            checkpoint=env_or("COMFYUI_CHECKPOINT", "sd_xl_base_1.0.safetensors"),
            animation_checkpoint=env_or("COMFYUI_ANIMATION_CHECKPOINT", "v1-5-pruned-emaonly.safetensors"),
            motion_module=env_or("COMFYUI_MOTION_MODULE", "mm_sd_v15_v2.ckpt"),
            controlnet=env_or("COMFYUI_CONTROLNET", "controlnet-canny-sdxl-1.0.safetensors"),
            ipadapter_preset=env_or("COMFYUI_IPADAPTER_PRESET", "PLUS (high strength)"),
            timeout_seconds=env_int_or("COMFYUI_TIMEOUT_SECONDS", 900),
            workflows_dir=env_or("COMFYUI_WORKFLOWS_DIR", ""),
        )
    return ProceduralArtResource()


def speech_resource() -> SpeechResource:
    if os.environ.get("SPARKLIO_TTS_URL"):
        return ServiceSpeechResource(
            url=EnvVar("SPARKLIO_TTS_URL"),
            model=env_or("SPARKLIO_TTS_MODEL", "tts-1"),
            voices=tts_voices_from_env(),
            api_key=env_or("SPARKLIO_TTS_API_KEY", ""),
        )
    return LocalSpeechResource()


def tts_voices_from_env() -> dict[str, str]:
    """`SPARKLIO_TTS_VOICES=ko:ko-voice,en:en-voice`: the defaults when a brand kit names none."""
    pairs = [item.split(":", 1) for item in os.environ.get("SPARKLIO_TTS_VOICES", "").split(",") if ":" in item]
    return {language.strip(): voice.strip() for language, voice in pairs}


def music_resource() -> MusicResource:
    """`SPARKLIO_MUSIC=library|procedural`; unset: the library in production, a composition embedded."""
    choice = (os.environ.get("SPARKLIO_MUSIC") or ("library" if active_profile() == "production" else "procedural"))
    if choice.strip().lower() == "library":
        return LibraryMusicResource(object_store=object_store_resource())
    return ProceduralMusicResource(soundfont=env_or("SPARKLIO_SOUNDFONT", ""))


def transcriber_resource() -> TranscriberResource:
    return WhisperTranscriberResource(model_dir=env_or("SPARKLIO_WHISPER_MODEL_DIR", ""))


def embedder_resource() -> EmbedderResource:
    return MiniLMEmbedderResource()


def build_resources() -> dict:
    check_profile()
    return {
        "object_store": object_store_resource(),
        "campaign_db": campaign_db_resource(),
        "llm": llm_resource(),
        "image_generator": image_generator_resource(),
        "speech": speech_resource(),
        "music": music_resource(),
        "transcriber": transcriber_resource(),
        "embedder": embedder_resource(),
    }


def resolved_resources(*names: str) -> list:
    """The named backends with their `EnvVar`s read now, for code that uses them outside a run (the CLI,
    benchmarks): an `EnvVar` left in a field only resolves when Dagster initializes the resource for a run."""
    built = build_resources()
    return [built[name].process_config_and_initialize() for name in names]
