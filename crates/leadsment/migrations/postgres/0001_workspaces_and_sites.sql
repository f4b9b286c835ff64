-- Workspaces (customer companies) and the sites they track.
-- Times are milliseconds since the Unix epoch, the same in both backends.

CREATE TABLE workspaces (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT    NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT  NOT NULL
);
-- At most one default workspace, even when two nodes create it at once.
CREATE UNIQUE INDEX workspaces_one_default ON workspaces (is_default) WHERE is_default;

CREATE TABLE sites (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    domain        TEXT    NOT NULL UNIQUE,
    time_zone     TEXT    NOT NULL DEFAULT 'UTC',
    created_at    BIGINT  NOT NULL
);
CREATE INDEX sites_workspace ON sites (workspace_id);

-- Every host a site claims, compared without "www.": its own domain and each alias.
-- The primary key keeps two sites from claiming one host.
CREATE TABLE site_hosts (
    host      TEXT    NOT NULL PRIMARY KEY,
    site_id   BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    is_alias  BOOLEAN NOT NULL,
    alias     TEXT
);
CREATE INDEX site_hosts_site ON site_hosts (site_id);

-- Keys and salts that every node must agree on.
CREATE TABLE shared_secrets (
    name        TEXT    NOT NULL PRIMARY KEY,
    value       BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL
);
