"""The production profile refuses to load with a service missing, and names every missing variable."""

import subprocess
import sys

import pytest

from sparklio_pipelines.defs.resources import (
    PRODUCTION_REQUIRED,
    ProfileError,
    build_resources,
    check_profile,
)

PRODUCTION_ENV = {
    "OLLAMA_HOST": "http://127.0.0.1:11434", "COMFYUI_URL": "http://127.0.0.1:8188",
    "SPARKLIO_S3_ENDPOINT": "http://127.0.0.1:9000", "SPARKLIO_S3_ACCESS_KEY_ID": "k",
    "SPARKLIO_S3_SECRET_ACCESS_KEY": "s", "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/sparklio",
    "SPARKLIO_TTS_URL": "http://127.0.0.1:11020",
}


def test_embedded_is_the_default(monkeypatch):
    monkeypatch.delenv("SPARKLIO_PROFILE", raising=False)
    assert check_profile() == "embedded"


def test_production_names_every_missing_variable(monkeypatch):
    monkeypatch.setenv("SPARKLIO_PROFILE", "production")
    for name in PRODUCTION_REQUIRED:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProfileError) as err:
        build_resources()
    for name in PRODUCTION_REQUIRED:
        assert name in str(err.value)


def test_production_with_one_missing_names_only_it(monkeypatch):
    monkeypatch.setenv("SPARKLIO_PROFILE", "production")
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OLLAMA_HOST")
    with pytest.raises(ProfileError) as err:
        check_profile()
    assert "OLLAMA_HOST" in str(err.value) and "COMFYUI_URL" not in str(err.value)


def test_production_selects_every_production_backend(monkeypatch):
    monkeypatch.setenv("SPARKLIO_PROFILE", "production")
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    resources = build_resources()
    kinds = {key: type(value).__name__ for key, value in resources.items()}
    assert kinds["llm"] == "OllamaLLMResource"
    assert kinds["image_generator"] == "ComfyUIImageResource"
    assert kinds["object_store"] == "S3ObjectStoreResource"
    assert kinds["speech"] == "ServiceSpeechResource"


def test_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("SPARKLIO_PROFILE", "prod")
    with pytest.raises(ProfileError, match="embedded, production"):
        check_profile()


def test_definitions_fail_to_load_in_production_without_ollama(tmp_path):
    env = {**PRODUCTION_ENV, "SPARKLIO_PROFILE": "production", "PATH": "/usr/bin:/bin", "SPARKLIO_HOME": str(tmp_path)}
    del env["OLLAMA_HOST"]
    done = subprocess.run([sys.executable, "-c", "import sparklio_pipelines.definitions"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "OLLAMA_HOST" in done.stderr
