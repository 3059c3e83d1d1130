-- Version 3 → 4: claims that name their holder, pass and flush leases, and the shared rate budget.
-- New tables and one new column: nothing stored is rewritten.
ALTER TABLE outbox ADD COLUMN holder TEXT;

CREATE TABLE IF NOT EXISTS holders (
    id      TEXT PRIMARY KEY,
    host    TEXT NOT NULL,
    pid     INTEGER NOT NULL,
    started TEXT NOT NULL,
    kind    TEXT NOT NULL,
    seen_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS leases (
    shop_id     TEXT NOT NULL,
    job         TEXT NOT NULL,
    holder      TEXT NOT NULL,
    claim       INTEGER NOT NULL,
    lease_until TEXT NOT NULL,
    taken_at    TEXT NOT NULL,
    PRIMARY KEY (shop_id, job)
);

CREATE TABLE IF NOT EXISTS rate_slots (
    shop_id TEXT NOT NULL,
    slot    INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL,
    PRIMARY KEY (shop_id, slot)
);
