-- Scheduled messages (core/schedules.py): one row per schedule. A one-shot schedule has
-- run_at_ms and no cron; a recurring one has cron + tz. next_at_ms is the next occurrence
-- still to send (NULL once a one-shot was sent or a schedule was cancelled); it only moves
-- forward, in the same transaction that records the send, so an occurrence goes out once.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    account_id TEXT,
    target TEXT NOT NULL,
    text TEXT NOT NULL,
    cron TEXT,
    tz TEXT NOT NULL DEFAULT 'UTC',
    next_at_ms INTEGER,
    status TEXT NOT NULL DEFAULT 'active',
    created_by TEXT NOT NULL DEFAULT 'cli',
    sent_count INTEGER NOT NULL DEFAULT 0,
    last_sent_at_ms INTEGER,
    last_error TEXT,
    created_at_ms INTEGER NOT NULL
);

CREATE INDEX schedules_due ON schedules (status, next_at_ms);
