"""What the Studio does, shared by the REST API and the pages: create campaigns, read a campaign's state
from Postgres, the object store and Dagster, approve/reject/edit copy, re-run, search.

Everything here reuses the pipeline's own modules (brief parsing, storing a brief, approvals, brand memory,
copy limits); the Studio adds only the HTTP surfaces around them.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from resources.database import CampaignDatabaseResource, OutputRecord
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import campaign_key
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.brand_kits import load_brand_kit
from sparklio_pipelines.content.brief.parse import parse_brief_bytes, parse_brief_data
from sparklio_pipelines.content.brief.schema import (
    CHANNELS,
    LANGUAGES,
    Brief,
    BriefError,
)
from sparklio_pipelines.content.channels import generated_channels
from sparklio_pipelines.defs.links import media_path
from sparklio_pipelines.studio.copy_rules import copy_problems, field_counts, slug_ok
from sparklio_pipelines.studio.dagster_client import (
    DagsterClient,
    RunEvents,
    RunSummary,
)
from sparklio_pipelines.studio.errors import StudioError, not_found
from sparklio_pipelines.studio.forms import image_extension, set_path
from sparklio_pipelines.studio.store import StudioStore

CAMPAIGN_ASSETS = ("brief", "copy", "image", "video", "captions", "campaign_bundle")
# What each re-run button materializes: the asset and what is built from it.
RERUN_SELECTIONS = {
    "copy": ["copy", "image", "video", "captions", "campaign_bundle"],
    "video": ["video", "captions", "campaign_bundle"],
}
REVISIONS_ASSET = "copy_revisions"  # revision rows in the manifest, beside the generated copy
UPLOAD_FIELDS = {  # form/API field -> (brief field, object stem)
    "logo": ("brand.logo_path", "logo"),
    "product_photo": ("product_photo", "product-photo"),
    "style_reference": ("brand.style_reference_path", "style-reference"),
}
RUNS_CACHE_SECONDS = 2.0  # the list and review pages poll; Dagster is asked at most this often
MAX_CACHED_VIEWS = 256  # campaign views kept built (each a few tens of kB)
VIEW_FRESH_SECONDS = 1.0  # a built view is served this long before its version is asked again
RECENT_RUNS = 300
MAX_REASON_CHARS = 500


@dataclass
class Studio:
    store: ObjectStoreResource
    db: CampaignDatabaseResource
    dagster: DagsterClient
    studio_db: StudioStore
    embedder_factory: object = None  # callable -> EmbedderResource, loaded on first search/approval

    def __post_init__(self):
        self._embedder = None
        self._lock = threading.Lock()
        self._runs_cache: dict = {}
        self._refreshing: dict = {}
        self._refresh_guard = threading.Lock()
        self._events_cache: OrderedDict[str, tuple[bool, float, RunEvents]] = OrderedDict()
        # campaign -> (version, view, JSON, when the version was last confirmed)
        self._views: OrderedDict[str, tuple[tuple, dict, bytes, float]] = OrderedDict()

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                self._embedder = self.embedder_factory()
            return self._embedder

    # creating campaigns ----------------------------------------------------------------------------

    def parse_brief(self, raw: bytes, content_type: str) -> Brief:
        name = "brief.json" if "json" in content_type else "brief.yaml"
        return parse_brief_bytes(raw, name)

    def brief_from_form(self, data: dict, uploads: dict[str, tuple[str, bytes]]) -> tuple[Brief, dict[str, tuple[str, bytes]]]:
        """A brief from form fields, the brand from a kit (by name) or inline; uploads checked by content.

        Every problem is collected (the brief's and the uploads') and raised together, before anything is stored.
        """
        problems: list[tuple[str, str]] = []
        kit_name = data.pop("brand_kit", None)
        if kit_name:
            try:
                data["brand"] = {**load_brand_kit(kit_name).model_dump(), **data.get("brand", {})}
            except BriefError as exc:
                problems += [(f if f.startswith("brand") else f"brand.{f}", m) for f, m in exc.problems]
        files: dict[str, tuple[str, bytes]] = {}
        campaign_id = str(data.get("campaign_id") or "")
        for field, (filename, content) in uploads.items():
            target, stem = UPLOAD_FIELDS[field]
            try:
                ext = image_extension(target, filename, content)
            except StudioError as exc:
                problems += exc.problems
                continue
            files[target] = (stem + ext, content)
            if slug_ok(campaign_id):  # otherwise the brief is refused for its campaign_id anyway
                set_path(data, target, campaign_key(campaign_id, "input", stem + ext))
        try:
            brief = parse_brief_data(data)
        except BriefError as exc:
            problems = exc.problems + problems
            brief = None
        if problems:
            raise BriefError(problems)
        return brief, files

    def create_campaign(self, brief: Brief, files: dict[str, tuple[str, bytes]] | None = None) -> tuple[str, bool]:
        """Store the uploads and the brief, record the campaign, add its partition and queue its run.

        Returns (run_id, partition_added). Everything was validated before: nothing is stored for a bad brief.
        """
        for name, content in (files or {}).values():
            self.store.put_bytes(campaign_key(brief.campaign_id, "input", name), content)
        brief, stored = store_brief(brief, self.store)
        self.db.upsert_campaign(brief, stored.sha256)
        added = self.dagster.add_campaign_partition(brief.campaign_id)
        run_id = self.dagster.launch_campaign_run(brief.campaign_id)
        self._forget(brief.campaign_id)
        return run_id, added

    def store_upload(self, campaign_id: str, field: str, filename: str, content: bytes) -> str:
        """An input image for a brief sent through the API; returns the key the brief then names."""
        if field not in UPLOAD_FIELDS:
            raise StudioError([("kind", f"must be one of {sorted(UPLOAD_FIELDS)}")])
        if not slug_ok(campaign_id):
            raise StudioError([("campaign_id", "must be a lowercase slug of letters, digits and '-'")])
        target, stem = UPLOAD_FIELDS[field]
        ext = image_extension(target, filename, content)
        key = campaign_key(campaign_id, "input", stem + ext)
        self.store.put_bytes(key, content)
        return key

    def rerun(self, campaign_id: str, assets: list[str] | None = None, fresh_copy: bool = False,
              copy_channels: list[str] | None = None) -> str:
        brief = self.brief(campaign_id)
        unknown = sorted(set(assets or []) - set(CAMPAIGN_ASSETS))
        if unknown:
            raise StudioError([("assets", f"unknown assets {unknown}; choose from {list(CAMPAIGN_ASSETS)}")])
        channels = generated_channels(brief.channels)
        strangers = sorted(set(copy_channels or []) - set(channels))
        if strangers:
            raise StudioError([("copy_channels", f"the campaign has no channels {strangers}; it has {channels}")])
        from sparklio_pipelines.defs.assets.copy import COPY_CHANNELS_TAG, COPY_SEED_TAG

        tags = {COPY_SEED_TAG: str(random.randrange(1, 2**31))} if fresh_copy or copy_channels else {}
        if copy_channels:
            tags[COPY_CHANNELS_TAG] = ",".join(copy_channels)
        run_id = self.dagster.launch_campaign_run(campaign_id, assets or None, tags)
        self._forget(campaign_id)
        return run_id

    # reading campaigns ---------------------------------------------------------------------------

    def brief(self, campaign_id: str) -> Brief:
        if not slug_ok(campaign_id):
            raise not_found(f"campaign {campaign_id!r}")
        row = self.db.get_campaign(campaign_id)
        if row is None:
            raise not_found(f"campaign {campaign_id!r}")
        return Brief.model_validate(row["brief"])

    def _forget(self, campaign_id: str) -> None:
        """After a change made here (a run started, an edit, a rejection): the next read shows it."""
        self._runs_cache.clear()
        with self._lock:
            self._views.pop(campaign_id, None)

    def _cached(self, key, fetch):
        """`fetch()`, asked of Dagster at most once per RUNS_CACHE_SECONDS per key (pages poll it). One
        request refreshes an expired value while concurrent ones keep using the previous one."""
        cached = self._runs_cache.get(key)
        if cached and time.monotonic() - cached[0] < RUNS_CACHE_SECONDS:
            return cached[1]
        with self._refresh_guard:
            refresh = self._refreshing.setdefault(key, threading.Lock())
        if not refresh.acquire(blocking=cached is None):
            return cached[1]
        try:
            cached = self._runs_cache.get(key)
            if cached and time.monotonic() - cached[0] < RUNS_CACHE_SECONDS:
                return cached[1]  # another request refreshed it while this one waited
            value = fetch()
            self._runs_cache[key] = (time.monotonic(), value)
            return value
        finally:
            refresh.release()

    def runs(self, campaign_id: str | None = None) -> list[RunSummary]:
        """Newest first. One query of the newest runs serves every campaign; step stats (costly for Dagster
        to compute) are asked only for a campaign's active run."""
        recent = self._cached("recent", lambda: self.dagster.runs(limit=RECENT_RUNS))
        if campaign_id is None:
            return recent
        mine = [run for run in recent if run.campaign_id == campaign_id]
        if not mine and len(recent) >= RECENT_RUNS:  # an old campaign: its runs are further back
            mine = self._cached(("campaign", campaign_id), lambda: self.dagster.runs(campaign_id, limit=10))
        if mine and mine[0].status == "running":
            detailed = self._cached(("run", mine[0].run_id), lambda: self.dagster.run(mine[0].run_id, with_steps=True))
            mine = [detailed or mine[0], *mine[1:]]
        return mine

    def run_events(self, run: RunSummary) -> RunEvents:
        """Check results and step failures of a run; a finished run's never change, so they are kept
        (a running one's for RUNS_CACHE_SECONDS)."""
        if run.status == "queued":
            return RunEvents()  # nothing has happened yet
        cached = self._events_cache.get(run.run_id)
        if cached and (cached[0] or time.monotonic() - cached[1] < RUNS_CACHE_SECONDS):
            return cached[2]
        events = self.dagster.run_events(run.run_id)
        self._events_cache[run.run_id] = (run.finished, time.monotonic(), events)
        while len(self._events_cache) > 500:
            self._events_cache.popitem(last=False)
        return events

    def campaigns(self) -> list[dict]:
        latest: dict[str, RunSummary] = {}
        for run in self.runs():
            latest.setdefault(run.campaign_id, run)
        rows = []
        for row in self.studio_db.campaigns():
            run = latest.get(row["campaign_id"])
            if run is not None and run.status == "running":
                run = self.runs(row["campaign_id"])[0]  # with its step progress
            failed_checks = None
            if run is not None and run.finished:
                failed_checks = sum(1 for c in self.run_events(run).checks if not c["passed"])
            rows.append({
                "campaign_id": row["campaign_id"], "brand": row["brand"], "lifecycle": row["status"],
                "status": run.status if run else "not started", "run": run.to_dict() if run else None,
                "assets_done": [a for a in CAMPAIGN_ASSETS if a in row["assets"]],
                "checks_failed": failed_checks,
                "start_date": str(row["start_date"]), "end_date": str(row["end_date"]),
                "created": row["created_at"].isoformat(), "updated": row["updated_at"].isoformat(),
            })
        return rows

    def campaign(self, campaign_id: str, media_base: str) -> dict:
        """Everything the review page and `GET /api/campaigns/{id}` show, media URLs on `media_base`.

        Built again only when its Postgres rows or its runs changed, and that is asked at most once per
        VIEW_FRESH_SECONDS (a change made through this Studio shows at once): pages poll it and apps
        fetch it far more often than a campaign changes (see benchmarks/bench_studio.py)."""
        return self.campaign_view(campaign_id, media_base)[0]

    def campaign_json(self, campaign_id: str, media_base: str) -> bytes:
        """`campaign` as the API's JSON body, serialized once per version."""
        return self.campaign_view(campaign_id, media_base)[1]

    def campaign_view(self, campaign_id: str, media_base: str) -> tuple[dict, bytes]:
        if not slug_ok(campaign_id):
            raise not_found(f"campaign {campaign_id!r}")
        with self._lock:
            cached = self._views.get(campaign_id)
        if cached and cached[0][0] == media_base and time.monotonic() - cached[3] < VIEW_FRESH_SECONDS:
            return cached[1], cached[2]
        runs = self.runs(campaign_id)
        live = bool(runs) and runs[0].status == "running"  # its step log line moves on between run polls
        version = (media_base, self.studio_db.campaign_version(campaign_id),
                   tuple((r.run_id, r.status, tuple(sorted(r.steps.items()))) for r in runs[:5]),
                   int(time.monotonic() / RUNS_CACHE_SECONDS) if live else None)
        if cached and cached[0] == version:
            view, body = cached[1], cached[2]
        else:
            view = self._build_campaign(campaign_id, runs, lambda key: media_base + media_path(key))
            body = json.dumps(view, ensure_ascii=False, default=str).encode()
        with self._lock:
            self._views[campaign_id] = (version, view, body, time.monotonic())
            self._views.move_to_end(campaign_id)
            while len(self._views) > MAX_CACHED_VIEWS:
                self._views.popitem(last=False)
        return view, body

    def _build_campaign(self, campaign_id: str, runs: list[RunSummary], media_url) -> dict:
        brief = self.brief(campaign_id)
        outputs = self.db.outputs(campaign_id)
        latest = runs[0] if runs else None
        checks, failures = self._latest_checks(runs)
        done = {rec.asset for rec in outputs}
        failed_steps = {f["step"] for f in failures}
        assets = {}
        for asset in CAMPAIGN_ASSETS:
            step = latest.steps.get(asset) if latest else None
            in_latest = latest is not None and (latest.assets is None or asset in latest.assets)
            if in_latest and not latest.finished:
                assets[asset] = "running" if step == "IN_PROGRESS" else ("done" if step == "SUCCESS" else "queued")
            elif in_latest and (step == "FAILURE" or asset in failed_steps):
                assets[asset] = "failed"
            else:
                assets[asset] = "done" if asset in done else "missing"
        from sparklio_common.keys import manifest_key

        return {
            "campaign_id": campaign_id, "brand": brief.brand.name, "product": brief.product,
            "languages": brief.languages, "channels": brief.channels,
            "start_date": str(brief.start_date), "end_date": str(brief.end_date),
            "status": latest.status if latest else "not started",
            "run": self._run_view(latest),
            "runs": [r.to_dict() for r in runs[:5]],
            "dagster_run_url": self.dagster.run_ui_url(latest.run_id) if latest else None,
            "assets": assets,
            "checks": checks,
            "checks_failed": sum(1 for c in checks if not c["passed"]),
            "step_failures": failures,
            "outputs": [{**rec.to_dict(), "url": media_url(rec.key)} for rec in outputs],
            "manifest_url": media_url(manifest_key(campaign_id)) if self.store.exists(manifest_key(campaign_id)) else None,
            "copy": self.copy_view(campaign_id, brief, outputs),
            "rejections": [{**r, "created_at": r["created_at"].isoformat()} for r in self.studio_db.rejections(campaign_id)],
        }

    def _run_view(self, run: RunSummary | None) -> dict | None:
        """The run with, while it goes, its current step's latest log line (e.g. "en/x/A written")."""
        if run is None:
            return None
        view = run.to_dict()
        current = view["current_step"]
        if current and not run.finished:
            view["step_message"] = self.run_events(run).step_messages.get(current.split(", ")[0])
        return view

    def _latest_checks(self, runs: list[RunSummary]) -> tuple[list[dict], list[dict]]:
        """Each check's newest result across the campaign's recent runs (a subset run re-checks only its assets)."""
        newest: dict[tuple[str, str], dict] = {}
        failures: list[dict] = []
        for index, run in enumerate(runs[:5]):
            events = self.run_events(run)
            if index == 0:
                failures = events.failures
            for check in events.checks:
                newest.setdefault((check["asset"], check["check"]), check)
        return sorted(newest.values(), key=lambda c: (CAMPAIGN_ASSETS.index(c["asset"]) if c["asset"] in CAMPAIGN_ASSETS else 99, c["check"])), failures

    # copy ------------------------------------------------------------------------------------------

    def _variants(self, campaign_id: str, language: str, channel: str) -> list:
        from sparklio_common.keys import channel_key
        from sparklio_pipelines.content.copy.schemas import CopyDeck

        key = channel_key(campaign_id, language, channel)
        if not self.store.exists(key):
            return []
        deck = CopyDeck.model_validate({"campaign_id": campaign_id, "model": "", "seed": 0,
                                        "languages": {language: {channel: json.loads(self.store.get_bytes(key))}}})
        return deck.languages[language][channel]

    def copy_view(self, campaign_id: str, brief: Brief, outputs) -> dict:
        """language -> channel -> variants, each with its fields (latest revision applied) and counts against limits."""
        from sparklio_pipelines.content.copy.schemas import CopyDeck
        from sparklio_pipelines.content.quality import variant_texts

        revisions = {}
        for rev in self.studio_db.revisions(campaign_id):
            revisions[(rev["language"], rev["channel"], rev["variant"])] = rev
        pairs = sorted({(r.language, r.channel) for r in outputs if r.asset == "copy" and r.language and r.channel},
                       key=lambda p: (brief.languages.index(p[0]) if p[0] in brief.languages else 9,
                                      CHANNELS.index(p[1]) if p[1] in CHANNELS else 9))
        view: dict = {}
        for language, channel in pairs:
            items = []
            for variant in self._variants(campaign_id, language, channel):
                rev = revisions.get((language, channel, variant.variant))
                if rev:
                    variant = type(variant).model_validate({**variant.model_dump(), **rev["fields"]})
                deck = CopyDeck(campaign_id=campaign_id, model="", seed=0, languages={language: {channel: [variant]}},
                                banned_words={language: brief.brand.banned_for(language)},
                                required_terms={language: brief.brand.required_for(language)})
                items.append({
                    "variant": variant.variant,
                    "fields": variant.copy_fields(),
                    "written_by": variant.provenance(),
                    "counts": field_counts(channel, language, variant_texts(variant)),
                    "problems": copy_problems(deck),
                    "revision": rev["revision"] if rev else None,
                })
            view.setdefault(language, {})[channel] = items
        return view

    def save_revision(self, campaign_id: str, language: str, channel: str, variant_label: str, edits: dict,
                      author: str) -> dict:
        """A new revision of a variant, checked by the generated copy's rules; nothing over a limit is stored."""
        from sparklio_pipelines.campaigns.manifest import fingerprint, publish_outputs
        from sparklio_pipelines.content.copy.schemas import CopyDeck

        brief = self.brief(campaign_id)
        current = self._current_variant(campaign_id, language, channel, variant_label)
        editable = set(current.copy_fields())
        unknown = sorted(set(edits) - editable)
        if unknown or not edits:
            raise StudioError([("fields", f"{channel} copy has the fields {sorted(editable)}; got {unknown or 'none'}")])
        try:
            revised = type(current).model_validate({**current.model_dump(), **edits})
        except ValueError as exc:
            raise StudioError([("fields", str(exc).splitlines()[0])]) from None
        deck = CopyDeck(campaign_id=campaign_id, model="", seed=0, languages={language: {channel: [revised]}},
                        banned_words={language: brief.brand.banned_for(language)},
                        required_terms={language: brief.brand.required_for(language)})
        problems = copy_problems(deck, brief)
        if problems:
            raise StudioError([(p.split(":", 1)[0], p.split(":", 1)[1].strip()) for p in problems])
        fields = {k: v for k, v in revised.model_dump().items() if k in editable}
        revision = self.studio_db.next_revision(campaign_id, language, channel, variant_label)
        key = campaign_key(campaign_id, "copy", language, "revisions", f"{channel}-{variant_label}-r{revision}.json")
        stored = self.store.put_bytes(key, json.dumps(revised.model_dump(), ensure_ascii=False, indent=2).encode(),
                                      "application/json")
        self.studio_db.add_revision(campaign_id, language, channel, variant_label, revision, fields, stored, author)
        self._forget(campaign_id)
        records = [OutputRecord(r["object_key"], REVISIONS_ASSET, r["sha256"], r["bytes"], "application/json",
                                r["language"], r["channel"], r["variant"])
                   for r in self.studio_db.revisions(campaign_id)]
        publish_outputs(self.store, self.db, campaign_id, REVISIONS_ASSET, records,
                        input_fingerprint=fingerprint([r.key for r in records]), run_id=None)
        return {"revision": revision, "key": key, "sha256": stored.sha256, "fields": fields}

    def _current_variant(self, campaign_id: str, language: str, channel: str, variant_label: str):
        if language not in LANGUAGES or channel not in CHANNELS:
            raise not_found(f"{language}/{channel} copy")
        for variant in self._variants(campaign_id, language, channel):
            if variant.variant == variant_label:
                for rev in reversed(self.studio_db.revisions(campaign_id)):
                    if (rev["language"], rev["channel"], rev["variant"]) == (language, channel, variant_label):
                        return type(variant).model_validate({**variant.model_dump(), **rev["fields"]})
                return variant
        raise not_found(f"variant {variant_label!r} of {language}/{channel} copy in campaign {campaign_id!r}")

    def approve(self, campaign_id: str, language: str, channel: str, variant_label: str) -> str:
        """Store the variant (its latest revision, if edited) in brand memory, as `sparklio copy approve` does."""
        from sparklio_pipelines.campaigns.approvals import (
            ApprovalError,
            approve_variant,
        )
        from sparklio_pipelines.campaigns.brand_memory import approve
        from sparklio_pipelines.content.quality import main_text

        brief = self.brief(campaign_id)
        variant = self._current_variant(campaign_id, language, channel, variant_label)
        if any(r["variant"] == variant_label and r["language"] == language and r["channel"] == channel
               for r in self.studio_db.revisions(campaign_id)):
            text = main_text(variant)
            approve(text, brief=brief, language=language, db=self.db, embedder=self.embedder)
            return text
        try:
            return approve_variant(campaign_id, language, channel, variant_label, store=self.store, db=self.db,
                                   embedder=self.embedder)
        except ApprovalError as exc:
            raise StudioError([("variant", str(exc))], 404) from None

    def reject(self, campaign_id: str, language: str, channel: str, variant_label: str, reason: str,
               author: str) -> None:
        reason = (reason or "").strip()
        if not reason or len(reason) > MAX_REASON_CHARS or not reason.isprintable():
            raise StudioError([("reason", f"give a reason of 1-{MAX_REASON_CHARS} printable characters")])
        self._current_variant(campaign_id, language, channel, variant_label)
        self.studio_db.add_rejection(campaign_id, language, channel, variant_label, reason, author)
        self._forget(campaign_id)

    def search(self, query: str, brand: str | None, media_url, k: int = 10) -> list[dict]:
        from sparklio_pipelines.campaigns.brand_memory import search

        query = (query or "").strip()
        if not query or len(query) > 500:
            raise StudioError([("q", "a search needs 1-500 characters")])
        hits = search(query, db=self.db, embedder=self.embedder, brand=brand or None, k=k)
        links: dict[str, list] = {}
        for hit in hits:
            campaign_id = hit["campaign_id"]
            if campaign_id and campaign_id not in links:
                links[campaign_id] = [
                    {"asset": rec.asset, "language": rec.language, "url": media_url(rec.key)}
                    for rec in self.db.outputs(campaign_id)
                    if rec.asset in ("video", "captions", "campaign_bundle") and rec.key.endswith((".mp4", ".zip"))]
            hit["similarity"] = round(float(hit["similarity"]), 4)
            hit["links"] = links.get(campaign_id, [])
        return hits
