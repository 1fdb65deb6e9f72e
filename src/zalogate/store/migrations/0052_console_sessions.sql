-- Operator console sessions (console/sessions.py), so that a gateway restart does not log
-- operators out. key is the SHA-256 of the cookie value: the cookie itself is never stored.
CREATE TABLE console_sessions (
    key           TEXT PRIMARY KEY,
    csrf          TEXT NOT NULL,
    lang          TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
