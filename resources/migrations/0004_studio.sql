-- Sparklio Studio: who may sign in, their sessions and API tokens (hashes only), and what marketers
-- did to copy (edited revisions, rejections) and which finished runs were already announced by webhook.
CREATE TABLE IF NOT EXISTS studio_users (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS studio_sessions (
    token_sha256  TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES studio_users (username) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS studio_api_tokens (
    token_sha256  TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS copy_revisions (
    campaign_id  TEXT NOT NULL REFERENCES campaigns (campaign_id) ON DELETE CASCADE,
    language     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    variant      TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    fields       JSONB NOT NULL,
    object_key   TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    author       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, language, channel, variant, revision)
);

CREATE TABLE IF NOT EXISTS copy_rejections (
    id           BIGSERIAL PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES campaigns (campaign_id) ON DELETE CASCADE,
    language     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    variant      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    author       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    run_id        TEXT PRIMARY KEY,
    campaign_id   TEXT NOT NULL,
    status        TEXT NOT NULL,
    http_status   INTEGER,
    delivered_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
