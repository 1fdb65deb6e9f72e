-- Allowlist edits made in the operator console, merged over the config's lists
-- (core/access_overlay.py). list is allowFrom, groupAllowFrom or groups; action 'allow' adds
-- the entry, 'block' hides an entry the config file has. entry is normalised (allowFrom-style
-- lists) or the group key as given (groups).
CREATE TABLE access_overlay (
    channel     TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    list        TEXT NOT NULL CHECK (list IN ('allowFrom', 'groupAllowFrom', 'groups')),
    entry       TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('allow', 'block')),
    added_at_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, account_id, list, entry)
);
