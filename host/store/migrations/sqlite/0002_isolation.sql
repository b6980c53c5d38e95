-- Tenant isolation (plugins run outside the writer, their effects are checked on commit)
-- and the per-(shop, plugin) quotas.

-- A random version per write: a plugin call records the versions it read and its writes
-- commit only if they are unchanged. 0 means "absent".
ALTER TABLE plugin_state ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Every change to an order moves its version on, so a plugin's decision taken on a read of
-- the order ("still unpaid: cancel it") commits only if the order did not change since.
ALTER TABLE orders ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- What each (shop, plugin) keeps, for the quotas; kept exact by the writes themselves.
CREATE TABLE plugin_usage (
    shop_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    state_keys BIGINT NOT NULL DEFAULT 0,
    state_bytes BIGINT NOT NULL DEFAULT 0,
    timers BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, plugin)
);
INSERT INTO plugin_usage (shop_id, plugin, state_keys, state_bytes, timers)
SELECT shop_id, plugin, SUM(k), SUM(b), SUM(t) FROM (
    SELECT shop_id, plugin, 1 AS k, length(CAST(key AS BLOB)) + length(value) AS b, 0 AS t FROM plugin_state
    UNION ALL
    SELECT shop_id, plugin, 0, 0, 1 FROM plugin_timers
) GROUP BY shop_id, plugin;

-- The breaker backs off: each trip lasts longer than the one before, and the merchant
-- reads why it tripped.
ALTER TABLE installations ADD COLUMN trips BIGINT NOT NULL DEFAULT 0;
ALTER TABLE installations ADD COLUMN tripped_reason TEXT;

-- Member points as a ledger (contract 0.2.0 `points.adjust`): members.points is the sum.
CREATE TABLE points_entries (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    delta BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    reference TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX points_entries_member ON points_entries (shop_id, member_id, created_at);

-- Timers are claimed per shop in turn.
CREATE INDEX plugin_timers_shop_due ON plugin_timers (shop_id, due_at);
CREATE INDEX ledger_postings_order ON ledger_postings (shop_id, order_id);
