-- Campaigns, their status, and every output listed in their manifests.
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id   TEXT PRIMARY KEY,
    brief         JSONB NOT NULL,
    brief_sha256  TEXT NOT NULL,
    brand         TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    start_date    DATE NOT NULL,
    end_date      DATE NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS campaign_outputs (
    campaign_id  TEXT NOT NULL REFERENCES campaigns (campaign_id) ON DELETE CASCADE,
    object_key   TEXT NOT NULL,
    asset        TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    media_type   TEXT NOT NULL,
    language     TEXT,
    channel      TEXT,
    variant      TEXT,
    run_id       TEXT,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, object_key)
);
CREATE INDEX IF NOT EXISTS campaign_outputs_asset ON campaign_outputs (campaign_id, asset);

-- What each asset last materialized from: when the inputs match and the objects are intact,
-- a retried or re-run step reports its outputs as cached instead of recomputing them.
CREATE TABLE IF NOT EXISTS asset_fingerprints (
    campaign_id  TEXT NOT NULL REFERENCES campaigns (campaign_id) ON DELETE CASCADE,
    asset        TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    run_id       TEXT,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, asset)
);
