-- The durable inbox journal: one row per admitted message (core/ingress.py).
-- state: pending (to process, also after a crash), done (tombstone), dead (dead-lettered).
-- payload is the InboundMessage JSON; it is dropped (NULL) once the row is done.
CREATE TABLE inbox_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    account_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    lane TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    payload TEXT,
    admitted_at_ms INTEGER NOT NULL,
    finished_at_ms INTEGER,
    UNIQUE (channel, account_id, message_id)
);

CREATE INDEX inbox_entries_pending ON inbox_entries (id) WHERE state = 'pending';

CREATE INDEX inbox_entries_finished
    ON inbox_entries (channel, account_id, finished_at_ms)
    WHERE state != 'pending';

-- Messages that failed for good, with the error text (never secrets) and the payload.
CREATE TABLE inbox_dead_letters (
    entry_id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    account_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    lane TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    payload TEXT,
    dead_at_ms INTEGER NOT NULL
);

CREATE INDEX inbox_dead_letters_account ON inbox_dead_letters (channel, account_id, dead_at_ms);
