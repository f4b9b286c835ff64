-- Accounts and sign-in: users, memberships, sessions with rotating refresh tokens, single-use
-- emailed links, invitations, API keys and login throttling.
-- Times are milliseconds since the Unix epoch. Secrets (tokens, keys) are stored only as
-- SHA-256 digests.

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Lower-cased; compared exactly.
    email              TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL,
    -- NULL until the user sets a password through an emailed link (`leadsment user create`).
    password_hash      TEXT,
    email_verified     INTEGER NOT NULL DEFAULT 0,
    is_platform_admin  INTEGER NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL
);

CREATE TABLE memberships (
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- A session is one sign-in on one device, and the family of its refresh tokens.
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    persistent    INTEGER NOT NULL,
    user_agent    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    revoked_why   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash  BLOB   NOT NULL UNIQUE,
    parent_id   BIGINT REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_parent ON refresh_tokens (parent_id);

-- Single-use links sent by email (or printed): setup, verification, reset, email change.
CREATE TABLE email_tokens (
    token_hash  BLOB   NOT NULL PRIMARY KEY,
    purpose     TEXT   NOT NULL,
    user_id     BIGINT REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);

CREATE TABLE invitations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email         TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash    BLOB   NOT NULL UNIQUE,
    invited_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    accepted_at   BIGINT
);
CREATE INDEX invitations_workspace ON invitations (workspace_id);

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT   NOT NULL,
    -- The first characters of the key, shown in lists so people can tell keys apart.
    prefix        TEXT   NOT NULL,
    key_hash      BLOB   NOT NULL UNIQUE,
    scope         TEXT   NOT NULL CHECK (scope IN ('read', 'write')),
    created_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

-- Failed sign-ins per account, keyed by a keyed hash of the email address (known or not, so
-- the throttle itself reveals nothing).
CREATE TABLE login_throttle (
    account_key      BLOB   NOT NULL PRIMARY KEY,
    failures         BIGINT NOT NULL,
    blocked_until    BIGINT NOT NULL,
    last_failure_at  BIGINT NOT NULL
);
