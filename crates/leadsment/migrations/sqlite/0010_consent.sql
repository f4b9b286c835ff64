-- The consent manager. `consent_log` is the proof of every decision a visitor made in the
-- banner, append-only: no IP address and no visitor hash, only what proves the choice.
-- `policy_revisions` records each revision of the cookie policy (a hash of the cookie
-- registry) and since when it holds, which is the policy's "Last updated" date.
-- Times are milliseconds since the Unix epoch.

CREATE TABLE consent_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    consent_id      TEXT    NOT NULL,
    -- The consent ID this decision replaces (the browser's earlier choice), if any: each
    -- decision gets an ID of its own, so no one can fix another's ID on a visitor.
    previous_id     TEXT,
    created_at      BIGINT  NOT NULL,
    revision        TEXT    NOT NULL,
    banner_version  TEXT    NOT NULL,
    action          TEXT    NOT NULL CHECK (action IN ('accept_all', 'reject_all', 'save', 'close')),
    analytics       INTEGER NOT NULL,
    advertising     INTEGER NOT NULL,
    gpc             INTEGER NOT NULL,
    -- ISO 3166-1 alpha-2, or NULL when unknown.
    country         TEXT,
    -- The browser family ("Chrome"), never the user-agent string.
    browser         TEXT
);
CREATE INDEX consent_log_consent_id ON consent_log (consent_id);
CREATE INDEX consent_log_created_at ON consent_log (created_at);

CREATE TABLE policy_revisions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    revision  TEXT    NOT NULL,
    since     BIGINT  NOT NULL
);
