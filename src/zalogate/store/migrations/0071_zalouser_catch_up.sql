-- zalouser catch-up: until when each account's listener was last known to be connected, so
-- that the next connection asks Zalo for what came after it (and a first start asks nothing).
CREATE TABLE zalouser_catch_up (
    account_id         TEXT PRIMARY KEY,
    connected_until_ms INTEGER NOT NULL
);
