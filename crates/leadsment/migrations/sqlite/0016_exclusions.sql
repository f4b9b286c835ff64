-- Exclusions: organisations, domains and ASNs a workspace hides from its dashboard (its own
-- company, customers, competitors). Applied when reading, so removing one brings the company
-- back with its history.
CREATE TABLE exclusions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('organisation', 'domain', 'asn')),
    value         TEXT    NOT NULL,
    created_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (workspace_id, kind, value)
);
