-- Pending DM pairing requests: one row per (channel, account, sender), expiring 1 h after creation.
-- sender_key is the normalised (case-folded) sender id used for uniqueness; sender_id keeps the
-- id as Zalo sent it (the notify message goes there).
CREATE TABLE pairing_requests (
    channel         TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    sender_key      TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    code            TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    last_seen_at_ms INTEGER NOT NULL,
    meta_json       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (channel, account_id, sender_key)
);
CREATE UNIQUE INDEX pairing_requests_code ON pairing_requests(code);
CREATE INDEX pairing_requests_created ON pairing_requests(channel, created_at_ms);
