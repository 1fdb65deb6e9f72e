-- The console's transcripts are kept for every conversation, not only taken-over ones
-- (core/takeover.py writes them in batches and prunes them after gateway.console.transcriptDays):
-- whether the chat is a group, the conversation's title when a message showed it, and an index
-- for the pruning by age.
ALTER TABLE takeover_messages ADD COLUMN is_group INTEGER NOT NULL DEFAULT 0;
ALTER TABLE takeover_messages ADD COLUMN title TEXT;
CREATE INDEX takeover_messages_at ON takeover_messages (at_ms);
