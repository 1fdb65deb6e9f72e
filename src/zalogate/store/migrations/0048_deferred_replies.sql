-- Turns an http agent answered with {"defer": true} (agents/http.py): the token in the reply
-- URL names the conversation the later answer goes to. A row is deleted when used.
CREATE TABLE deferred_replies (
    token TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    account_id TEXT NOT NULL,
    target TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
