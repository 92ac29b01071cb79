"""Brand memory: approved copy, embedded in pgvector per brand and language.

Approved lines come back as few-shot examples for new copy (this matters most for the small
embedded model), and new copy is compared with earlier copy to flag near-duplicates.
"""

from __future__ import annotations

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.copy.schemas import CopyDeck
from sparklio_pipelines.content.quality import main_text

APPROVED = "approved_copy"
GENERATED = "generated_copy"
NEAR_DUPLICATE = 0.95  # cosine similarity at which two lines say the same thing
FEW_SHOT_K = 4


def brand_of(brief: Brief) -> str:
    return brief.brand.name or brief.campaign_id


def approved_examples(brief: Brief, db: CampaignDatabaseResource, embedder: EmbedderResource,
                      k: int = FEW_SHOT_K) -> dict[str, list[str]]:
    """Per language, the k approved lines closest to what this brief is about (HNSW, cosine)."""
    query = f"{brief.product}. " + " ".join(brief.key_messages)
    [vector] = embedder.embed([query])
    examples = {}
    for language in brief.languages:
        hits = db.nearest(vector, model=embedder.model_label, kind=APPROVED, language=language,
                          brand=brand_of(brief), k=k)
        examples[language] = [hit["content"] for hit in hits]
    return examples


def approve(text: str, *, brief: Brief, language: str, db: CampaignDatabaseResource,
            embedder: EmbedderResource) -> None:
    [vector] = embedder.embed([text])
    db.add_embedding(content=text, embedding=vector, model=embedder.model_label, kind=APPROVED,
                     language=language, brand=brand_of(brief), campaign_id=brief.campaign_id)


def deck_lines(deck: CopyDeck) -> list[tuple[str, str, str, str]]:
    """(language, channel, variant, text) for every post's main text."""
    return [
        (language, channel, variant.variant, main_text(variant))
        for language, channels in deck.languages.items()
        for channel, variants in channels.items()
        for variant in variants
    ]


def near_duplicates(deck: CopyDeck, brief: Brief, *, db: CampaignDatabaseResource, embedder: EmbedderResource,
                    run_id: str, threshold: float = NEAR_DUPLICATE) -> list[str]:
    """New lines too close to copy from an earlier run (a previous refresh or another campaign).

    The new lines are then remembered, so the next refresh is compared with this one.
    """
    lines = deck_lines(deck)
    vectors = embedder.embed([text for *_, text in lines])
    problems = []
    for (language, channel, variant, text), vector in zip(lines, vectors):
        hits = db.nearest(vector, model=embedder.model_label, kind=GENERATED, language=language,
                          brand=brand_of(brief), k=1, exclude_run_id=run_id)
        if hits and hits[0]["similarity"] >= threshold:
            hit = hits[0]
            problems.append(
                f"{language}/{channel}/{variant}: {hit['similarity']:.3f} similar to earlier copy "
                f"(campaign {hit['campaign_id']}): {hit['content'][:80]!r}"
            )
    for (language, _, _, text), vector in zip(lines, vectors):
        db.add_embedding(content=text, embedding=vector, model=embedder.model_label, kind=GENERATED,
                         language=language, brand=brand_of(brief), campaign_id=brief.campaign_id, run_id=run_id)
    return problems


def search(query: str, *, db: CampaignDatabaseResource, embedder: EmbedderResource, brand: str | None = None,
           k: int = 5) -> list[dict]:
    [vector] = embedder.embed([query])
    hits = db.nearest(vector, model=embedder.model_label, kind=APPROVED, brand=brand, k=k)
    hits += db.nearest(vector, model=embedder.model_label, kind=GENERATED, brand=brand, k=k)
    return sorted(hits, key=lambda h: -h["similarity"])[:k]
