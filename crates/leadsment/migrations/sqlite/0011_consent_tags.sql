-- The consent manager's tags: the third-party scripts and pixels a platform administrator
-- switches on (Google Analytics 4, LinkedIn Insight Tag, Microsoft Clarity, a pixel, a custom
-- script). `target` is the tag's ID (measurement, partner or project ID) or its https URL;
-- `hosts` the hosts a custom script talks to, one per line; `storage_keys` a JSON list of the
-- cookies and storage keys it sets (name, storage, purpose, duration, party, provider,
-- domain). Only switched-on tags enter the cookie registry and the policy revision.
-- `consent_tag_changes` is the append-only audit log of every change: who, when, the tag as
-- it was before (NULL when created) and after, as JSON. Times are milliseconds since the
-- Unix epoch.

CREATE TABLE consent_tags (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL CHECK (kind IN ('ga4', 'linkedin', 'clarity', 'pixel', 'custom')),
    label         TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    hosts         TEXT    NOT NULL DEFAULT '',
    category      TEXT    NOT NULL CHECK (category IN ('analytics', 'advertising')),
    enabled       INTEGER NOT NULL DEFAULT 0,
    storage_keys  TEXT    NOT NULL DEFAULT '[]',
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

-- No foreign keys: the log outlives the tag and the user (`who` keeps the address).
CREATE TABLE consent_tag_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tag_id       BIGINT  NOT NULL,
    user_id      BIGINT,
    who          TEXT    NOT NULL,
    changed_at   BIGINT  NOT NULL,
    before_json  TEXT,
    after_json   TEXT    NOT NULL
);
CREATE INDEX consent_tag_changes_tag_id ON consent_tag_changes (tag_id);
