-- Per-session chat transcripts of the OpenAI-compatible agent (agents/openai.py).
-- content is one Chat Completions message as JSON.
CREATE TABLE agent_transcripts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_key TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE INDEX agent_transcripts_session ON agent_transcripts (session_key, id);
