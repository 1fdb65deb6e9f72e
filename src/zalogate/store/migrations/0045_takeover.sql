-- Human takeover (the operator console): conversations where the agent is paused, and what
-- was said in them while an operator answered (inbound while paused, the operator's replies).
CREATE TABLE takeover_pauses (
    channel      TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    chat_id      TEXT NOT NULL,
    is_group     INTEGER NOT NULL DEFAULT 0,
    paused_at_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, account_id, chat_id)
);

CREATE TABLE takeover_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    at_ms       INTEGER NOT NULL
);

CREATE INDEX takeover_messages_chat ON takeover_messages (channel, account_id, chat_id, id);
