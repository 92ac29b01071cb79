-- Which run stored a generated line, so a refresh is compared with earlier runs, never with itself.
ALTER TABLE text_embeddings ADD COLUMN IF NOT EXISTS run_id TEXT;
CREATE INDEX IF NOT EXISTS text_embeddings_scope ON text_embeddings (model, kind, brand, language);
