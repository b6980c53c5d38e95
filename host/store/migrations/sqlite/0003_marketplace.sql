-- The open marketplace: developer accounts with their own API keys and registered ed25519
-- signing keys, plugin names owned first come (first-party names by the platform), the
-- operator's review log, rollouts with canaries, merchants' capability consent, and call
-- records per plugin version (counts and a duration histogram for p99).

CREATE TABLE developers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    -- pending (signed up, awaiting the operator) | approved | suspended
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    reviewed_at BIGINT,
    reviewed_by TEXT
);

-- The platform itself publishes the first-party plugins through the same registry.
INSERT INTO developers (id, name, email, status, created_at) VALUES ('dev_platform', 'Baseplate', NULL, 'approved', 0);

-- A developer's API keys; only a hash of the token (bp_dk_…) is stored.
CREATE TABLE developer_api_keys (
    id TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES developers(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Public keys a developer signs packages with. A revoked key signs nothing new; versions
-- it signed before stay as reviewed.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES developers(id),
    name TEXT NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    replaced_by TEXT
);

-- Who owns a plugin name: the first developer to publish it; first-party names belong to
-- dev_platform.
CREATE TABLE plugin_names (
    name TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES developers(id),
    created_at BIGINT NOT NULL
);
INSERT INTO plugin_names (name, developer_id, created_at)
SELECT DISTINCT name, 'dev_platform', 0 FROM plugin_packages;

-- Who published each version with which key, how big it is, why its state last changed,
-- and where it is in its rollout (staged | canary | released | halted).
ALTER TABLE plugin_packages ADD COLUMN developer_id TEXT NOT NULL DEFAULT 'dev_platform';
ALTER TABLE plugin_packages ADD COLUMN key_id TEXT;
ALTER TABLE plugin_packages ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE plugin_packages ADD COLUMN state_reason TEXT;
ALTER TABLE plugin_packages ADD COLUMN state_changed_at BIGINT;
ALTER TABLE plugin_packages ADD COLUMN rollout TEXT NOT NULL DEFAULT 'released';
UPDATE plugin_packages SET size = length(component);
CREATE INDEX plugin_packages_state ON plugin_packages (state, name);

-- Every operator (and canary) action: who, what, when, why.
CREATE TABLE registry_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    plugin TEXT,
    version TEXT,
    developer_id TEXT,
    reason TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX registry_log_plugin ON registry_log (plugin, id);

-- A canary: the shops that run the version early, and where each goes back on a halt.
CREATE TABLE canaries (
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    percent BIGINT,
    started_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    PRIMARY KEY (plugin, version)
);
CREATE TABLE canary_shops (
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    shop_id TEXT NOT NULL REFERENCES shops(id),
    previous_version TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, version, shop_id)
);

-- Shops that agreed to run canary versions of the plugins they installed.
CREATE TABLE canary_consent (
    shop_id TEXT PRIMARY KEY REFERENCES shops(id),
    opted_in_at BIGINT NOT NULL
);

-- The capabilities the merchant accepted (JSON list): an upgrade that asks for more needs
-- a new acceptance. Existing installations accepted what their version asks.
ALTER TABLE installations ADD COLUMN accepted_capabilities TEXT NOT NULL DEFAULT '[]';
UPDATE installations SET accepted_capabilities = COALESCE((
    SELECT json_extract(p.manifest, '$.capabilities') FROM plugin_packages p
    WHERE p.name = installations.plugin AND p.version = installations.version
), '[]');

-- Calls per (plugin, version, shop), and a duration histogram per (plugin, version):
-- failure rates of a canary and the platform's p99 come from these.
CREATE TABLE plugin_version_calls (
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    calls BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    total_us BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, version, shop_id)
);
CREATE TABLE plugin_call_histogram (
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    calls BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, version, bucket)
);

-- Held deliveries (revoked or disabled plugins) of a shop's plugin are woken together.
CREATE INDEX event_deliveries_shop_plugin ON event_deliveries (shop_id, plugin, status);
