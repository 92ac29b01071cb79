-- Text embeddings for brand memory and search. Each row records the model that made it:
-- vectors from different models are never compared.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS text_embeddings (
    id           BIGSERIAL PRIMARY KEY,
    brand        TEXT NOT NULL DEFAULT '',
    campaign_id  TEXT,
    language     TEXT NOT NULL,
    kind         TEXT NOT NULL,            -- e.g. approved_copy, generated_copy
    content      TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    model        TEXT NOT NULL,
    embedding    vector(384) NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (model, kind, brand, language, content_sha256)
);
CREATE INDEX IF NOT EXISTS text_embeddings_hnsw ON text_embeddings USING hnsw (embedding vector_cosine_ops);
