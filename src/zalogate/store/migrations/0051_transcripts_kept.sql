-- The console's transcripts are kept for every conversation, not only taken-over ones
-- (core/takeover.py writes them in batches and prunes them after gateway.console.transcriptDays):
-- whether the chat is a group, and the conversation's title when a message showed it. No index
-- on at_ms (one more per insert): ids grow with time, so pruning walks the oldest ids.
ALTER TABLE takeover_messages ADD COLUMN is_group INTEGER NOT NULL DEFAULT 0;
ALTER TABLE takeover_messages ADD COLUMN title TEXT;
