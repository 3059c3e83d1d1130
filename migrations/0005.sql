-- Version 5: links between supplier (buyer-side) orders and
-- storefront (seller-side) orders. New tables only: nothing stored is rewritten.
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
