-- Version 2 → 3: `orders.fingerprint` moves before `raw_json`, and `raw_hash` (the hash of the
-- row's raw JSON as received, indexed) lets a pass skip rows it has already stored unchanged
-- without reading them. A row's raw JSON is kilobytes and
-- spills into overflow pages; a column after it can only be read by walking them, and every
-- upsert reads the fingerprint. Same names and types; every row and line is kept (the rebuild
-- runs with foreign keys off, so dropping the old table cascades nothing).
CREATE TABLE orders_v3 (
    shop_id           TEXT NOT NULL,
    order_no          TEXT NOT NULL,
    platform          TEXT NOT NULL,
    platform_order_id TEXT,
    status            TEXT NOT NULL,
    platform_status   TEXT NOT NULL,
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
    updated_at        TEXT,
    synced_at         TEXT NOT NULL,
    fingerprint       TEXT NOT NULL,
    raw_hash          INTEGER,
    raw_json          TEXT NOT NULL,
    PRIMARY KEY (shop_id, order_no)
);
INSERT INTO orders_v3 (shop_id, order_no, platform, platform_order_id, status, platform_status, payment_status,
    refund_status, currency, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address, external_ref,
    created_at, updated_at, synced_at, fingerprint, raw_json)
SELECT shop_id, order_no, platform, platform_order_id, status, platform_status, payment_status,
    refund_status, currency, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address, external_ref,
    created_at, updated_at, synced_at, fingerprint, raw_json FROM orders;
DROP TABLE orders;
ALTER TABLE orders_v3 RENAME TO orders;
CREATE INDEX IF NOT EXISTS orders_by_platform_id ON orders (shop_id, platform_order_id);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (shop_id, status);
CREATE INDEX IF NOT EXISTS orders_by_raw_hash ON orders (shop_id, raw_hash);
