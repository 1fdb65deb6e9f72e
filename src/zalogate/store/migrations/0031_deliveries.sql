-- Outbound deliveries of the pipeline (core/pipeline.py): one row per reply chunk of an
-- inbound message, so a replay after a crash skips the chunks that already went out.
CREATE TABLE pipeline_deliveries (
    channel TEXT NOT NULL,
    account_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    message_ids TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, account_id, message_id, seq)
);

CREATE INDEX pipeline_deliveries_created ON pipeline_deliveries (created_at_ms);
