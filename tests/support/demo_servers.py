"""The production code paths, demonstrated on one machine: `make demo-servers`.

Starts the servers the GPU desktop and the Mac mini would provide, on loopback: the Ollama and
ComfyUI test servers (tests/support; they speak the real HTTP APIs, since neither can run without
a GPU), SeaweedFS as the S3 server and the embedded Postgres as the database server. Then it runs
`sparklio campaign add BRIEF --launch` with OLLAMA_HOST, COMFYUI_URL, SPARKLIO_S3_ENDPOINT and
DATABASE_URL set, exactly as an operator would, and prints the manifest's shape. With
`--compare MANIFEST` (e.g. the one `make demo` printed) it shows that the embedded default and the
production backends give the same shape: the same assets, media types, languages, channels and keys.

Run: .venv/bin/python -m tests.support.demo_servers [BRIEF] [--compare PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BRIEF = REPO / "examples" / "briefs" / "hanbit-tea-ko.yaml"


def shape(manifest: dict) -> Counter:
    """What a manifest holds, independent of the content: one count per (asset, media type, language,
    channel, key with the campaign id and content-dependent parts masked)."""
    campaign = manifest["campaign_id"]
    rows = Counter()
    for entry in manifest["outputs"]:
        key = entry["key"].replace(f"campaigns/{campaign}/", "campaigns/<campaign>/")
        key = re.sub(r"[0-9a-f]{12,}", "<hash>", key)
        rows[(entry["asset"], entry.get("media_type"), entry.get("language"), entry.get("channel"), key)] += 1
    return rows


# Outputs only an animating image backend makes: ComfyUI's AnimateDiff opening clip. The embedded
# procedural renderer cannot animate, so its video opens on still art instead; the rest must match.
ANIMATION_ONLY = {("video", "video/mp4", None, "shorts", "campaigns/<campaign>/video/clip/opening-clip.mp4")}


def print_shape(title: str, rows: Counter) -> None:
    per_asset = Counter()
    for (asset, media_type, *_), n in rows.items():
        per_asset[(asset, media_type)] += n
    print(f"\n{title}")
    print("| asset | media type | outputs |")
    print("|---|---|---:|")
    for (asset, media_type), n in sorted(per_asset.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        print(f"| {asset} | {media_type} | {n} |")


def print_ollama_calls(ollama, copywriter) -> None:
    """Every inference request the Ollama stand-in saw, by endpoint, model and whether `format` was a schema."""
    rows = Counter()
    for request in ollama.requests:
        if request.path in ("/api/chat", "/api/generate", "/api/embed"):
            body = request.body if isinstance(request.body, dict) else {}
            kind = "unload" if request.path == "/api/chat" and not body.get("messages") else (
                "schema format" if isinstance(body.get("format"), dict) else "no format")
            rows[(request.path, body.get("model"), kind)] += 1
    print("\nOllama requests")
    print("| endpoint | model | format | requests |")
    print("|---|---|---|---:|")
    for (path, model, kind), n in sorted(rows.items(), key=str):
        print(f"| {path} | {model} | {kind} | {n} |")
    print(f"rule breaks the stand-in scripted: {dict(copywriter.broken)}")


def print_reasks(deck: dict) -> None:
    print(f"\nCopy: strategy {deck.get('strategy')}, final model {deck.get('final_model')}")
    reasks = Counter(r["rule"] for r in deck.get("reasks", []))
    print("| re-asked for | variants |")
    print("|---|---:|")
    for rule, n in sorted(reasks.items()):
        print(f"| {rule} | {n} |")
    fallbacks = deck.get("fallbacks", [])
    print(f"variants written from the brief's own words: {len(fallbacks)}; "
          f"claims refused during generation: {len(deck.get('refused_claims', []))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("brief", nargs="?", default=str(DEFAULT_BRIEF))
    parser.add_argument("--compare", help="a manifest.json from the embedded default (`make demo` prints its path)")
    parser.add_argument("--ollama-latency", type=float, default=0.0, help="seconds per model call")
    parser.add_argument("--comfyui-latency", type=float, default=0.0, help="seconds per prompt")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    home = Path(tempfile.mkdtemp(prefix="sparklio-demo-servers-"))
    os.environ["SPARKLIO_HOME"] = str(home)  # the embedded Postgres's data dir lives here
    from resources.embedded_postgres import (
        start_embedded_postgres,
        stop_embedded_postgres,
    )
    from resources.object_store import S3ObjectStoreResource
    from sparklio_common.keys import deck_key, manifest_key
    from sparklio_pipelines.content.brief.parse import load_brief
    from tests.support.fake_comfyui import FakeComfyUI
    from tests.support.fake_copywriter import Copywriter
    from tests.support.fake_ollama import FakeOllama
    from tests.support.seaweedfs import SeaweedS3

    campaign_id = load_brief(args.brief).campaign_id
    # The stand-in breaks rules the way qwen2.5 was seen to, so the re-asks show: a claim the brief does
    # not make, the wrong language, a line cut with '…', one over its limit, a banned word.
    copywriter = Copywriter(break_first={"claim": 2, "language": 1, "cut": 1, "limit": 1, "banned": 1})
    seaweed = SeaweedS3().start()
    try:
        database_url = start_embedded_postgres()
        with FakeOllama(responder=copywriter) as ollama, FakeComfyUI() as comfyui:
            ollama.latency, comfyui.latency_seconds = args.ollama_latency, args.comfyui_latency
            env = {
                **os.environ,
                "SPARKLIO_HOME": str(home),
                "OLLAMA_HOST": ollama.url,
                "COMFYUI_URL": comfyui.url,
                "SPARKLIO_S3_ENDPOINT": seaweed.endpoint,
                "SPARKLIO_S3_BUCKET": "sparklio",
                "SPARKLIO_S3_ACCESS_KEY_ID": "demo",
                "SPARKLIO_S3_SECRET_ACCESS_KEY": "demo",
                "DATABASE_URL": database_url,
                "SPARKLIO_MODELS_DIR": os.environ.get("SPARKLIO_MODELS_DIR", str(REPO / ".sparklio" / "models")),
            }
            print(f"Ollama test server {ollama.url}, ComfyUI test server {comfyui.url}, "
                  f"S3 (SeaweedFS) {seaweed.endpoint}, Postgres {database_url.split('@')[-1]}", flush=True)
            started = time.monotonic()
            run = subprocess.run([str(Path(sys.executable).with_name("sparklio")), "campaign", "add", args.brief,
                                  "--launch"], env=env, cwd=REPO)
            wall = time.monotonic() - started
            calls = ollama.count("/api/chat") + ollama.count("/api/generate")
            prompts = comfyui.requests("POST", "/prompt")
            print(f"\nsparklio exited {run.returncode} after {wall:.0f} s; Ollama model calls: {calls}; "
                  f"ComfyUI prompts: {len(prompts)}; ComfyUI /free calls: {len(comfyui.free_requests)}; "
                  f"Ollama models loaded at the end: {ollama.loaded_models() or 'none'}")
            print_ollama_calls(ollama, copywriter)
            if run.returncode != 0:
                return run.returncode
        store = S3ObjectStoreResource(endpoint_url=seaweed.endpoint, bucket="sparklio", access_key_id="demo",
                                      secret_access_key="demo")
        manifest = json.loads(store.get_bytes(manifest_key(campaign_id)))
        saved = home / "manifest-production-paths.json"
        saved.write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
        production = shape(manifest)
        print_shape(f"Manifest from the production paths ({len(manifest['outputs'])} outputs), saved at {saved}",
                    production)
        print_reasks(json.loads(store.get_bytes(deck_key(campaign_id))))
        models = sorted({(e.get("model") or "") for e in manifest["outputs"]} - {""})
        if models:
            print(f"models named in the manifest: {', '.join(models)}")
        if args.compare:
            embedded = shape(json.loads(Path(args.compare).read_text()))
            only_prod, only_emb = production - embedded, embedded - production
            print_shape(f"Manifest from the embedded default ({args.compare})", embedded)
            for row in sorted(set(only_prod) & ANIMATION_ONLY, key=str):
                print(f"\nonly in production paths, as expected (the embedded backend cannot animate): {row}")
                del only_prod[row]
            if only_prod or only_emb:
                print("\nshapes differ:")
                for row in sorted(map(str, only_prod)):
                    print(f"  only in production paths: {row}")
                for row in sorted(map(str, only_emb)):
                    print(f"  only in embedded default: {row}")
                return 1
            print("\nSame manifest shape: every other (asset, media type, language, channel, key) matches.")
        return 0
    finally:
        seaweed.stop()
        stop_embedded_postgres()


if __name__ == "__main__":
    sys.exit(main())
