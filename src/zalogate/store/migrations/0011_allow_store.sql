-- Senders approved through pairing, per channel account (DM access only; never "*").
CREATE TABLE pairing_allow_entries (
    channel     TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    entry       TEXT NOT NULL,
    added_at_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, account_id, entry)
);
