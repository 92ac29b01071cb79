"""Tier 3, the whole chain: the Korean sample brief (ko + en, brand kit with logo) through brief → copy →
image → video → captions → bundle, on SeaweedFS S3 and the embedded Postgres, with the real embedded
models and every asset check. Then the same run again: everything reports cached.

To keep CI inside its time limit the brief asks for two channels (X, plus the Shorts script every
campaign gets); `make demo` runs the full five-channel brief.
"""

import json
from pathlib import Path

import dagster as dg
import pytest

from sparklio_common.keys import manifest_key
from sparklio_pipelines.content.copy.limits import limit_problems
from sparklio_pipelines.content.copy.schemas import CopyDeck
from sparklio_pipelines.content.creative.layout import CREATIVE_SIZES
from sparklio_pipelines.content.media import probe, summarize
from sparklio_pipelines.defs.assets import brief, bundle, captions, copy, image, video
from sparklio_pipelines.defs.checks import ALL_CHECKS
from sparklio_pipelines.defs.partitions import submit_brief
from sparklio_pipelines.defs.resources import build_resources

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "briefs" / "hanbit-tea-ko.yaml"
CAMPAIGN_ASSETS = dg.load_assets_from_modules([brief, copy, image, video, captions, bundle])


def run_campaign(campaign_id, instance, resources):
    return dg.materialize([*CAMPAIGN_ASSETS, *ALL_CHECKS], partition_key=campaign_id, instance=instance,
                          resources=resources, raise_on_error=False)


@pytest.fixture(scope="module")
def campaign(seaweed, postgres_dsn):
    from resources.database import CampaignDatabaseResource
    from resources.object_store import S3ObjectStoreResource

    resources = {
        **build_resources(),
        "object_store": S3ObjectStoreResource(endpoint_url=seaweed.endpoint, bucket="pipeline",
                                              access_key_id="test", secret_access_key="test"),
        "campaign_db": CampaignDatabaseResource(database_url=postgres_dsn),
    }
    with dg.instance_for_test() as instance:
        raw = EXAMPLE.read_text().replace("channels: [instagram, x, linkedin, email, shorts]", "channels: [x, shorts]")
        submission = submit_brief(raw.encode(), EXAMPLE.name, store=resources["object_store"],
                                  db=resources["campaign_db"], instance=instance, base_dir=EXAMPLE.parent)
        campaign_id = submission.brief.campaign_id
        first = run_campaign(campaign_id, instance, resources)
        second = run_campaign(campaign_id, instance, resources)
    # the instance is closed before the tests read the results: an instance left entered breaks later tests
    yield {"id": campaign_id, "first": first, "second": second, "store": resources["object_store"],
           "db": resources["campaign_db"]}


def test_run_succeeds_and_every_check_passes(campaign):
    result = campaign["first"]
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert result.success, failures
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == len(ALL_CHECKS)
    failed = {name: e.metadata["problems"].value for name, e in evaluations.items() if not e.passed}
    blocking = {name: e for name, e in evaluations.items() if e.severity == dg.AssetCheckSeverity.ERROR}
    assert len(blocking) >= 9 and not set(failed) & set(blocking), failed
    print("warnings on the sample campaign:", json.dumps(failed, ensure_ascii=False)[:2000])


def test_manifest_matches_stored_objects(campaign):
    store, campaign_id = campaign["store"], campaign["id"]
    manifest = json.loads(store.get_bytes(manifest_key(campaign_id)))
    listed = {entry["key"]: entry for entry in manifest["outputs"]}
    stored = {o.key for o in store.list(f"campaigns/{campaign_id}/")}
    assert stored == set(listed) | {manifest_key(campaign_id)}  # nothing lost, nothing orphaned
    for key, entry in listed.items():
        assert store.head(key).sha256 == entry["sha256"], key
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=".tmp/").get("KeyCount", 0) == 0
    assets = {entry["asset"] for entry in manifest["outputs"]}
    assert assets == {"brief", "copy", "image", "video", "captions", "campaign_bundle"}
    languages = {entry.get("language") for entry in manifest["outputs"]} - {None}
    assert languages == {"ko", "en"}


def test_copy_respects_every_channel_limit_in_both_languages(campaign):
    deck = CopyDeck.model_validate_json(campaign["store"].get_bytes(f"campaigns/{campaign['id']}/copy/deck.json"))
    assert set(deck.languages) == {"ko", "en"}
    for channels in deck.languages.values():
        assert set(channels) == {"x", "shorts"}
        assert all(len(variants) >= 2 for variants in channels.values())
    assert limit_problems(deck) == []
    assert all(call.output_tokens > 0 and call.seconds > 0 for call in deck.calls)


def test_creatives_have_exact_sizes(campaign):
    import io

    from PIL import Image

    store = campaign["store"]
    for language in ("ko", "en"):
        for name, size in CREATIVE_SIZES.items():
            png = store.get_bytes(f"campaigns/{campaign['id']}/image/{language}/{name}-{size[0]}x{size[1]}.png")
            assert Image.open(io.BytesIO(png)).size == size


def test_the_16x9_cut_moves_art_painted_landscape(campaign):
    import io

    from PIL import Image

    image_out = campaign["first"].output_for_node("image")
    for n in (1, 2, 3):
        assert Image.open(io.BytesIO(campaign["store"].get_bytes(image_out["art"][f"wide-{n}"]))).size == (1920, 1080)
    slide_art = campaign["first"].asset_materializations_for_node("video")[0].metadata["slide_art"].value
    assert slide_art == {"9x16": ["story-1", "story-2", "story-3"], "1x1": ["story-1", "story-2", "story-3"],
                         "16x9": ["wide-1", "wide-2", "wide-3"]}


def test_videos_are_vertical_with_audio_and_captions_cover_speech(campaign):
    store = campaign["store"]
    for language in ("ko", "en"):
        for key in (f"campaigns/{campaign['id']}/video/{language}/video.mp4",
                    f"campaigns/{campaign['id']}/captions/{language}/video-captioned.mp4"):
            facts = summarize(probe(store.url(key)))
            assert 15 <= facts["duration_s"] <= 30 and (facts["width"], facts["height"]) == (1080, 1920), key
            assert facts["has_audio"] and facts["video_codec"] == "h264" and facts["audio_codec"] == "aac", key
    quality = campaign["first"].asset_materializations_for_node("captions")[0].metadata["quality"].value
    for language in ("ko", "en"):
        assert quality[language]["coverage"] >= 0.9 and quality[language]["wer_vs_script"] <= 0.2, quality


def test_second_run_reports_everything_cached(campaign):
    second = campaign["second"]
    assert second.success
    cached = {e.asset_key.to_user_string(): e.materialization.metadata["cached"].value
              for e in second.get_asset_materialization_events()}
    assert cached == {name: True for name in ("brief", "copy", "image", "video", "captions", "campaign_bundle")}
