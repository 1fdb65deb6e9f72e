-- Small key/value facts about this state dir (schema owner, created time, CLI-made settings).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta(key, value) VALUES ('created_at_ms', CAST(strftime('%s', 'now') AS INTEGER) * 1000);
