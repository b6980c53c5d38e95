-- Diagnostics: a merchant turns recording on for one plugin for a while; each call is kept
-- as a replayable record (input, config, clock, seed, the data it read, what it did).
ALTER TABLE installations ADD COLUMN diagnostics_until BIGINT;

CREATE TABLE plugin_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    hook TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_us BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX plugin_runs_shop ON plugin_runs (shop_id, plugin, id);
