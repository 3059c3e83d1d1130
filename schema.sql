-- ordersync database schema, version 5 (PRAGMA user_version); migrations/ brings older files up to it.
-- Table and column names below are a contract (DESIGN.md): other tools read them.
-- Times are RFC 3339 UTC text; money is integer minor units (fen).

CREATE TABLE IF NOT EXISTS orders (
    shop_id           TEXT NOT NULL,
    order_no          TEXT NOT NULL,
    platform          TEXT NOT NULL,
    platform_order_id TEXT,             -- the vendor's internal id, when it differs from order_no
    status            TEXT NOT NULL,    -- unified order status
    platform_status   TEXT NOT NULL,    -- the vendor's raw code
    payment_status    TEXT,
    refund_status     TEXT,
    currency          TEXT NOT NULL,
    total_minor       INTEGER NOT NULL,
    shipping_minor    INTEGER NOT NULL,
    buyer_name        TEXT,
    buyer_phone       TEXT,
    ship_address      TEXT,
    external_ref      TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT,             -- the vendor's last-modified time
    synced_at         TEXT NOT NULL,    -- when this row last changed here
    fingerprint       TEXT NOT NULL,    -- hash of the row and its raw JSON, to skip unchanged rows
    raw_hash          INTEGER,             -- hash of raw_json as received (and of the reader's version),
                                        -- to skip a row already stored unchanged without reading it
    raw_json          TEXT NOT NULL,    -- last: kilobytes in overflow pages, never walked to reach a column
    PRIMARY KEY (shop_id, order_no)
);
CREATE INDEX IF NOT EXISTS orders_by_platform_id ON orders (shop_id, platform_order_id);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (shop_id, status);
CREATE INDEX IF NOT EXISTS orders_by_raw_hash ON orders (shop_id, raw_hash);

CREATE TABLE IF NOT EXISTS order_lines (
    shop_id          TEXT NOT NULL,
    order_no         TEXT NOT NULL,
    line_no          INTEGER NOT NULL,
    sku              TEXT NOT NULL,
    name             TEXT NOT NULL,
    quantity         INTEGER NOT NULL,  -- whole units; weighed goods rounded half away from zero
    unit_price_minor INTEGER NOT NULL,
    quantity_exact   TEXT,              -- the quantity exactly as the vendor gave it (`1.5`, `2.35`, `3`)
    spec             TEXT,              -- the SKU's spec, where the vendor names it apart from the product
    real_quantity    TEXT,              -- weighed goods: the quantity weighed out, exact decimal text
    real_amount_minor INTEGER,          -- weighed goods: the line's amount charged for it, in fen
    PRIMARY KEY (shop_id, order_no, line_no),
    FOREIGN KEY (shop_id, order_no) REFERENCES orders (shop_id, order_no) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS shipments (
    shop_id           TEXT NOT NULL,
    shipment_id       TEXT NOT NULL,
    order_no          TEXT,             -- NULL until the order it names by internal id is synced
    platform_order_id TEXT,
    carrier           TEXT,
    tracking_no       TEXT,
    shipped_at        TEXT,
    synced_at         TEXT NOT NULL,
    raw_json          TEXT NOT NULL,
    fingerprint       TEXT NOT NULL,
    PRIMARY KEY (shop_id, shipment_id)
);
CREATE INDEX IF NOT EXISTS shipments_by_order ON shipments (shop_id, order_no);

CREATE TABLE IF NOT EXISTS refunds (
    shop_id         TEXT NOT NULL,
    refund_id       TEXT NOT NULL,
    order_no        TEXT NOT NULL,
    status          TEXT NOT NULL,
    platform_status TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL,
    reason          TEXT,
    created_at      TEXT,
    updated_at      TEXT,
    synced_at       TEXT NOT NULL,
    raw_json        TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    PRIMARY KEY (shop_id, refund_id)
);

-- Every observed transition; a backwards move is kept with regression = 1, never applied silently.
CREATE TABLE IF NOT EXISTS status_changes (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id              TEXT NOT NULL,
    entity               TEXT NOT NULL CHECK (entity IN ('order', 'refund')),
    entity_key           TEXT NOT NULL,
    from_status          TEXT,          -- NULL on first sight
    to_status            TEXT NOT NULL,
    from_platform_status TEXT,
    to_platform_status   TEXT NOT NULL,
    regression           INTEGER NOT NULL DEFAULT 0,
    observed_at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS status_changes_by_key ON status_changes (shop_id, entity, entity_key);

CREATE TABLE IF NOT EXISTS sync_state (
    shop_id          TEXT NOT NULL,
    stream           TEXT NOT NULL,
    cursor           TEXT,
    last_started_at  TEXT,
    last_finished_at TEXT,
    last_success_at  TEXT,
    last_error       TEXT,
    incomplete       TEXT,              -- the last pass's shortfalls (query: reported vs received); NULL when whole
    PRIMARY KEY (shop_id, stream)
);

-- One row per pass, for `status` and for pruning after the retention period.
CREATE TABLE IF NOT EXISTS sync_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id     TEXT NOT NULL,
    stream      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    ok          INTEGER,
    rows_seen   INTEGER NOT NULL DEFAULT 0,
    rows_changed INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    shortfall   TEXT                -- queries whose rows fell short of the vendor's total, after one re-read
);
CREATE INDEX IF NOT EXISTS sync_runs_by_stream ON sync_runs (shop_id, stream, id);

-- Vendor records that could not be normalized: kept raw with the reason (nothing fetched is lost).
CREATE TABLE IF NOT EXISTS rejected_records (
    shop_id    TEXT NOT NULL,
    stream     TEXT NOT NULL,
    vendor_key TEXT NOT NULL,
    error      TEXT NOT NULL,
    raw_json   TEXT NOT NULL,
    seen_at    TEXT NOT NULL,
    PRIMARY KEY (shop_id, stream, vendor_key)
);

CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('ship', 'status', 'remark')),
    order_no        TEXT NOT NULL,
    payload         TEXT NOT NULL,      -- JSON, see platforms::PushPayload
    dedupe_key      TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'in_flight', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    lease_until     TEXT,               -- set while in_flight; an expired lease may be claimed again
    needs_read_back INTEGER NOT NULL DEFAULT 0, -- a send may have landed: read back before resending
    last_error      TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    done_at         TEXT,
    settled_by      TEXT,               -- for done rows: `sent`, or `read_back` when found applied unsent
    holder          TEXT                -- holders.id of the process that claimed it last
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (shop_id, state, next_attempt_at);

-- Every process that may hold claims (daemon or command line): who it is, so a claim of a process
-- that provably died on this host is taken back at once (see src/holder.rs).
CREATE TABLE IF NOT EXISTS holders (
    id      TEXT PRIMARY KEY,           -- fresh per process start
    host    TEXT NOT NULL,
    pid     INTEGER NOT NULL,
    started TEXT NOT NULL,              -- <boot id>/<start tick>: a reused pid is another process
    kind    TEXT NOT NULL,              -- daemon | sync | flush | ...
    seen_at TEXT NOT NULL               -- the daemon refreshes it while it runs
);

-- One holder at a time per shop x job (`orders`, `shipments`, `refunds`, `flush`).
CREATE TABLE IF NOT EXISTS leases (
    shop_id     TEXT NOT NULL,
    job         TEXT NOT NULL,
    holder      TEXT NOT NULL,          -- holders.id
    claim       INTEGER NOT NULL,       -- fresh per take: two passes of one process never share it
    lease_until TEXT NOT NULL,          -- renewed while the work runs; expired means free
    taken_at    TEXT NOT NULL,
    tick        TEXT,                   -- the schedule tick the work ran for: each tick runs once
    PRIMARY KEY (shop_id, job)
);

-- The start times of each shop's last N requests (N = rate_limit_per_sec), in Unix ms, whoever
-- sent them: the per-shop budget holds across the daemon, the command line and other instances.
CREATE TABLE IF NOT EXISTS rate_slots (
    shop_id TEXT NOT NULL,
    slot    INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL,
    PRIMARY KEY (shop_id, slot)
);

-- Links (version 5): supplier shipments forwarded to storefront orders; see docs/links.md.
-- Links an order number cannot show: written by an ERP or `ordersync link add`.
CREATE TABLE IF NOT EXISTS order_links (
    from_shop  TEXT NOT NULL,           -- the supplier (buyer-side) shop
    from_order TEXT NOT NULL,           -- the supplier's order number
    to_shop    TEXT NOT NULL,           -- the storefront (seller-side) shop
    to_order   TEXT NOT NULL,           -- the storefront order number
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (from_shop, from_order, to_shop)
);
-- How each supplier order of a configured link was matched (or why not), for `ordersync links`.
CREATE TABLE IF NOT EXISTS link_orders (
    from_shop  TEXT NOT NULL,
    from_order TEXT NOT NULL,
    to_shop    TEXT NOT NULL,
    candidate  TEXT,                    -- the storefront number the match read, found or not
    to_order   TEXT,                    -- set once the storefront order is stored: matched
    why        TEXT,                    -- why it is not matched; NULL when matched
    updated_at TEXT NOT NULL,
    PRIMARY KEY (from_shop, from_order, to_shop)
);
CREATE INDEX IF NOT EXISTS link_orders_by_candidate ON link_orders (to_shop, candidate);
-- One row per supplier shipment (and tracking number) of a matched order: its push, or why none.
CREATE TABLE IF NOT EXISTS link_forwards (
    from_shop     TEXT NOT NULL,
    shipment_id   TEXT NOT NULL,
    tracking_no   TEXT NOT NULL,
    to_shop       TEXT NOT NULL,
    from_order    TEXT NOT NULL,
    to_order      TEXT NOT NULL,
    carrier       TEXT,                 -- as pushed (after the link's carrier map)
    state         TEXT NOT NULL CHECK (state IN ('waiting', 'queued', 'skipped')),
    outbox_id     INTEGER,              -- the push, once queued (its state says forwarded or failed)
    note          TEXT,                 -- why waiting or skipped
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (from_shop, shipment_id, tracking_no, to_shop)
);
CREATE INDEX IF NOT EXISTS link_forwards_by_order ON link_forwards (from_shop, from_order, to_shop);
-- A supplier cancel or refund, raised on the storefront order it concerns (`ordersync status`).
CREATE TABLE IF NOT EXISTS link_alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    from_shop  TEXT NOT NULL,
    from_order TEXT NOT NULL,
    to_shop    TEXT NOT NULL,
    to_order   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('supplier_cancelled', 'supplier_refund')),
    ref        TEXT NOT NULL,           -- the supplier's status code, or the refund id
    detail     TEXT NOT NULL,
    outbox_id  INTEGER,                 -- the storefront cancel, when the link asks for one
    raised_at  TEXT NOT NULL,
    UNIQUE (from_shop, from_order, to_shop, kind, ref)
);
