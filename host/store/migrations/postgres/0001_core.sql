-- Baseplate core schema (PostgreSQL). Money is BIGINT minor units; times are BIGINT ms since
-- the Unix epoch; JSON is TEXT. Every tenant-owned row carries shop_id.

CREATE TABLE shops (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    payment_timeout_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    shop_id TEXT REFERENCES shops(id),
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops(id),
    name TEXT NOT NULL,
    phone TEXT,
    level BIGINT NOT NULL DEFAULT 0,
    points BIGINT NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    inviter_id TEXT,
    paid_orders BIGINT NOT NULL DEFAULT 0,
    token_hash TEXT UNIQUE,
    joined_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX members_shop_phone ON members (shop_id, phone);

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops(id),
    name TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL
);
CREATE INDEX products_shop ON products (shop_id);

CREATE TABLE skus (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops(id),
    product_id TEXT NOT NULL REFERENCES products(id),
    name TEXT NOT NULL,
    price BIGINT NOT NULL CHECK (price >= 0),
    stock BIGINT NOT NULL CHECK (stock >= 0)
);
CREATE INDEX skus_product ON skus (product_id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops(id),
    member_id TEXT,
    status TEXT NOT NULL,
    payment_status TEXT NOT NULL,
    refund_state TEXT NOT NULL,
    close_reason TEXT,
    hold BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    original_amount BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    payable_amount BIGINT NOT NULL CHECK (payable_amount >= 0),
    paid_amount BIGINT NOT NULL DEFAULT 0,
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT '[]',
    plugin_inputs TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    paid_at BIGINT,
    closed_at BIGINT,
    CHECK (refunded_amount <= paid_amount)
);
CREATE INDEX orders_shop_created ON orders (shop_id, created_at);
CREATE INDEX orders_pending_expiry ON orders (status, expires_at);

CREATE TABLE order_lines (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    shop_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    product_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    original_amount BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    final_amount BIGINT NOT NULL,
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    adjustments TEXT NOT NULL DEFAULT '[]',
    CHECK (refunded_amount <= final_amount)
);
CREATE INDEX order_lines_order ON order_lines (order_id, idx);

CREATE TABLE idempotency_keys (
    shop_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (shop_id, scope, key)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT
);
CREATE INDEX payments_order ON payments (order_id);

-- One row per provider notification applied: a duplicate callback finds its row and
-- changes nothing.
CREATE TABLE payment_notifications (
    provider_event_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE refunds (
    shop_id TEXT NOT NULL,
    id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    amount BIGINT NOT NULL,
    lines TEXT NOT NULL,
    reason TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (shop_id, id)
);

CREATE TABLE ledger_postings (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL,
    memo TEXT NOT NULL,
    source TEXT NOT NULL,
    order_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_postings_shop ON ledger_postings (shop_id, created_at);

CREATE TABLE ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    posting_id TEXT NOT NULL REFERENCES ledger_postings(id),
    shop_id TEXT NOT NULL,
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    account TEXT NOT NULL,
    amount BIGINT NOT NULL,
    available_at BIGINT
);
CREATE INDEX ledger_entries_party ON ledger_entries (shop_id, party_kind, party_id, account);

CREATE TABLE plugin_packages (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    wit TEXT NOT NULL,
    manifest TEXT NOT NULL,
    digest TEXT NOT NULL,
    component BYTEA NOT NULL,
    publisher_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE installations (
    shop_id TEXT NOT NULL REFERENCES shops(id),
    plugin TEXT NOT NULL,
    version_req TEXT NOT NULL,
    version TEXT NOT NULL,
    pinned BIGINT NOT NULL DEFAULT 0,
    previous_version TEXT,
    config TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    tripped_until BIGINT,
    installed_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (shop_id, plugin)
);

CREATE TABLE plugin_state (
    shop_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (shop_id, plugin, key)
);

CREATE TABLE plugin_timers (
    shop_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    name TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (shop_id, plugin, name)
);
CREATE INDEX plugin_timers_due ON plugin_timers (due_at);

CREATE TABLE outbox_events (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE event_deliveries (
    event_id TEXT NOT NULL REFERENCES outbox_events(id),
    shop_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    delivered_at BIGINT,
    PRIMARY KEY (event_id, plugin)
);
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);

CREATE TABLE plugin_calls (
    shop_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    hook TEXT NOT NULL,
    calls BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    total_us BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, plugin, hook)
);

CREATE TABLE plugin_failures (
    id BIGSERIAL PRIMARY KEY,
    shop_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    hook TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    duration_us BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX plugin_failures_shop ON plugin_failures (shop_id, plugin, id);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
