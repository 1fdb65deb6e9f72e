-- The zalouser send governor's state that must survive a restart (issue 14): distinct
-- strangers messaged, conversations started, conversations known (a message came from them),
-- and the rate-limit pause. One row per (account, kind, thread); ``at_ms`` is wall-clock ms
-- (for ``pause``: the time the pause ends, ``step`` the back-off step).
CREATE TABLE IF NOT EXISTS zalouser_send_governor (
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, kind, thread_id)
) WITHOUT ROWID;
