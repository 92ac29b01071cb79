"""Asset checks: blocking ones stop downstream assets; the others warn. Each names what failed and where.

Checks read the partition's stored outputs (the run's `dagster/partition` tag says which campaign),
so they judge exactly what was published.
"""

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from sparklio_pipelines import quality
from sparklio_pipelines.assets.captions import CAPTION_FILES, captions
from sparklio_pipelines.assets.common import SERVICE_RETRY
from sparklio_pipelines.assets.copy import copy, deck_key
from sparklio_pipelines.assets.image import image, layouts_key
from sparklio_pipelines.assets.video import video, video_key
from sparklio_pipelines.brief import Brief
from sparklio_pipelines.campaigns import brief_input_key
from sparklio_pipelines.copywriting import CopyDeck
from sparklio_pipelines.keys import campaign_key
from sparklio_pipelines.media import probe, summarize
from sparklio_pipelines.retries import service_step

WARN = dg.AssetCheckSeverity.WARN
WITH_DB = ("object_store", "campaign_db")
DB_AND_EMBEDDER = ("object_store", "campaign_db", "embedder")


def partition_of(context) -> str:
    return context.run.tags["dagster/partition"]


def result(problems: list[str], severity=dg.AssetCheckSeverity.ERROR, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        severity=severity,
        metadata={"problems": dg.MetadataValue.json(problems[:200]), "problem_count": len(problems), **metadata},
    )


# The logic of each check, by name: `core(campaign_id, res)`, where `res` has the resources and run_id.
# Tests call these directly on planted outputs; the asset checks below wrap them.
CHECK_LOGIC: dict[str, Callable[[str, SimpleNamespace], dg.AssetCheckResult]] = {}
ALL_CHECKS: list[dg.AssetChecksDefinition] = []


def campaign_check(asset, *, description: str, blocking: bool = False, resources: tuple[str, ...] = ("object_store",)):
    def register(core):
        CHECK_LOGIC[core.__name__] = core

        # a check reads the store and Postgres too: an outage of a few seconds is retried, not a failed run
        @dg.asset_check(asset=asset, name=core.__name__, blocking=blocking, description=description,
                        required_resource_keys=set(resources), retry_policy=SERVICE_RETRY)
        def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
            res = SimpleNamespace(run_id=context.run.run_id, **{k: getattr(context.resources, k) for k in resources})
            with service_step(context, core.__name__):
                return core(partition_of(context), res)

        ALL_CHECKS.append(check)
        return check

    return register


def load_deck(store: ObjectStoreResource, campaign_id: str) -> CopyDeck:
    return CopyDeck.model_validate_json(store.get_bytes(deck_key(campaign_id)))


def load_brief(store: ObjectStoreResource, campaign_id: str) -> Brief:
    return Brief.model_validate_json(store.get_bytes(brief_input_key(campaign_id)))


# --- copy ---------------------------------------------------------------------------------------

@campaign_check(copy, description="Every channel limit: lengths, script words, headlines.", blocking=True)
def copy_channel_limits(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    return result(quality.copy_limit_problems(load_deck(res.object_store, campaign_id)))


@campaign_check(copy, description="No banned word (case-insensitive, Hangul aware).", blocking=True)
def copy_banned_words(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    deck, brief = load_deck(res.object_store, campaign_id), load_brief(res.object_store, campaign_id)
    return result(quality.banned_word_problems(deck, brief))


@campaign_check(copy, description="Every post carries the brand's required terms.", blocking=True)
def copy_required_terms(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    deck, brief = load_deck(res.object_store, campaign_id), load_brief(res.object_store, campaign_id)
    return result(quality.required_term_problems(deck, brief))


@campaign_check(copy, description="At most 30 hashtags per post.", blocking=True)
def copy_hashtag_count(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    return result(quality.hashtag_problems(load_deck(res.object_store, campaign_id)))


@campaign_check(copy, description="Copy is in the requested language (Hangul ratio for ko).")
def copy_language(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    return result(quality.language_problems(load_deck(res.object_store, campaign_id)), WARN)


# --- image --------------------------------------------------------------------------------------

def creatives(store: ObjectStoreResource, db: CampaignDatabaseResource, campaign_id: str):
    layouts = json.loads(store.get_bytes(layouts_key(campaign_id)))
    for rec in db.outputs(campaign_id, "image"):
        if rec.language:
            size_name = rec.key.rsplit("/", 1)[-1].split("-")[0]
            yield rec.key, store.get_bytes(rec.key), layouts[rec.language][size_name], size_name


@campaign_check(image, description="Every creative has its channel size exactly.", blocking=True, resources=WITH_DB)
def image_sizes(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    from sparklio_pipelines.creatives import CREATIVE_SIZES

    problems, count = [], 0
    for key, png, _, size_name in creatives(res.object_store, res.campaign_db, campaign_id):
        count += 1
        actual = quality.image_size(png)
        if actual != CREATIVE_SIZES[size_name]:
            problems.append(f"{key}: {actual[0]}x{actual[1]}, need {CREATIVE_SIZES[size_name]}")
    if count == 0:
        problems.append("no creatives found")
    return result(problems, creatives_checked=count)


@campaign_check(image, description="Text contrast meets WCAG AA (4.5:1), measured on pixels.", blocking=True, resources=WITH_DB)
def image_text_contrast(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    from sparklio_pipelines.creatives import MIN_CONTRAST, measure_text_contrast

    problems, lowest = [], None
    for key, png, layout, _ in creatives(res.object_store, res.campaign_db, campaign_id):
        for text, ratio in zip(layout["texts"], measure_text_contrast(png, layout)):
            lowest = ratio if lowest is None else min(lowest, ratio)
            if ratio < MIN_CONTRAST:
                problems.append(f"{key}: {text['role']} contrast {ratio:.2f}:1 < {MIN_CONTRAST}:1")
    return result(problems, lowest_contrast=round(lowest or 0.0, 2))


@campaign_check(image, description="All text inside the safe area.", blocking=True, resources=WITH_DB)
def image_text_in_safe_area(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    problems = []
    for key, _, layout, _ in creatives(res.object_store, res.campaign_db, campaign_id):
        problems += quality.safe_area_problems(layout, key)
    return result(problems)


@campaign_check(image, description="The logo is on every creative when the brand kit has one.", resources=WITH_DB)
def image_logo_present(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    if not load_brief(res.object_store, campaign_id).brand.logo_path:
        return result([], WARN, note="brand kit has no logo")
    problems = [f"{key}: no logo" for key, _, layout, _ in creatives(res.object_store, res.campaign_db, campaign_id)
                if not layout.get("logo_box")]
    return result(problems, WARN)


# --- video --------------------------------------------------------------------------------------

def videos(db: CampaignDatabaseResource, campaign_id: str) -> dict[str, str]:
    """Each language's finished video; not the other .mp4 the asset stores (ComfyUI's opening clip)."""
    return {rec.language: rec.key for rec in db.outputs(campaign_id, "video")
            if rec.language and rec.key == video_key(campaign_id, rec.language)}


@campaign_check(video, description="15-30 s, 1080x1920, with an audio stream.", blocking=True, resources=WITH_DB)
def video_format(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    problems, facts = [], {}
    for language, key in videos(res.campaign_db, campaign_id).items():
        facts[language] = summarize(probe(res.object_store.url(key)))
        problems += [f"{key}: {p}" for p in quality.video_problems(facts[language])]
    if not facts:
        problems.append("no video found")
    return result(problems, facts=dg.MetadataValue.json(facts))


@campaign_check(video, description="Integrated loudness within -20..-12 LUFS (EBU R128).", resources=WITH_DB)
def video_loudness(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    problems, measured = [], {}
    low, high = quality.LOUDNESS_RANGE_LUFS
    with tempfile.TemporaryDirectory() as tmp:
        for language, key in videos(res.campaign_db, campaign_id).items():
            lufs = quality.integrated_loudness(res.object_store.download(key, Path(tmp) / f"{language}.mp4"))
            measured[language] = lufs
            if not low <= lufs <= high:
                problems.append(f"{key}: {lufs:.1f} LUFS, want {low:.0f}..{high:.0f}")
    return result(problems, WARN, lufs=dg.MetadataValue.json(measured))


# --- captions -----------------------------------------------------------------------------------

def caption_sets(store: ObjectStoreResource, db: CampaignDatabaseResource, campaign_id: str):
    """(language, cues, script, source video key) for each captioned language."""
    deck = load_deck(store, campaign_id)
    for language, video_key in videos(db, campaign_id).items():
        srt = store.get_bytes(campaign_key(campaign_id, "captions", language, CAPTION_FILES["srt"])).decode()
        script = deck.languages[language]["shorts"][0].script
        yield language, quality.parse_srt(srt), script, video_key


@campaign_check(captions, description="Captions are on screen for >= 90% of the speech.", blocking=True, resources=WITH_DB)
def captions_cover_speech(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    from resources.transcription import Word
    from sparklio_pipelines.subtitles import speech_coverage, voiced_intervals

    problems, coverage = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for language, cues, _, video_key in caption_sets(res.object_store, res.campaign_db, campaign_id):
            local = res.object_store.download(video_key, Path(tmp) / f"{language}.mp4")
            speech = [Word("", a, b, 1.0) for a, b in voiced_intervals(local)]
            coverage[language] = round(speech_coverage(speech, cues), 3)
            if coverage[language] < 0.9:
                problems.append(f"{language}: captions cover {coverage[language]:.0%} of the speech, need 90%")
    return result(problems, coverage=dg.MetadataValue.json(coverage))


@campaign_check(captions, description="Cue rules: <= 2 lines, line length, no overlaps, reading speed.", resources=WITH_DB)
def captions_cue_rules(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    from sparklio_pipelines.subtitles import cue_problems

    problems = []
    for language, cues, _, _ in caption_sets(res.object_store, res.campaign_db, campaign_id):
        problems += [f"{language}: {p}" for p in cue_problems(cues, language)]
    return result(problems, WARN)


@campaign_check(captions, description="Caption text matches the voiceover script (WER <= 0.2).", resources=WITH_DB)
def captions_match_script(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    from sparklio_pipelines.subtitles import word_error_rate

    problems, rates = [], {}
    for language, cues, script, _ in caption_sets(res.object_store, res.campaign_db, campaign_id):
        rates[language] = round(word_error_rate(script, " ".join(c.text for c in cues), language), 3)
        if rates[language] > 0.2:
            problems.append(f"{language}: word error rate {rates[language]:.2f} against the script")
    return result(problems, WARN, wer=dg.MetadataValue.json(rates))




@campaign_check(copy, description="No line is a near-duplicate (cosine >= 0.95) of earlier copy for the brand.", resources=DB_AND_EMBEDDER)
def copy_not_near_duplicate(campaign_id: str, res: SimpleNamespace) -> dg.AssetCheckResult:
    from sparklio_pipelines.brand_memory import near_duplicates

    problems = near_duplicates(load_deck(res.object_store, campaign_id), load_brief(res.object_store, campaign_id),
                               db=res.campaign_db, embedder=res.embedder, run_id=res.run_id)
    return result(problems, WARN, embedding_model=res.embedder.model_label)

