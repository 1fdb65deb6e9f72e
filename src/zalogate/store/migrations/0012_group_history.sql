-- Pending group history: mention-gated group messages that were skipped, kept (at most the
-- configured limit per key) until the next processed message of that group takes them.
CREATE TABLE group_history (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    history_key  TEXT NOT NULL,
    sender       TEXT NOT NULL,
    sender_id    TEXT,
    body         TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    message_id   TEXT,
    media_json   TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX group_history_key ON group_history(history_key, seq);
