-- The platform workspace: the instance's own, holding the site of its public pages (see
-- docs/public-site.md). Platform administrators may open it without being members.
ALTER TABLE workspaces ADD COLUMN is_platform BOOLEAN NOT NULL DEFAULT FALSE;
-- At most one, even when two nodes start at once.
CREATE UNIQUE INDEX workspaces_one_platform ON workspaces (is_platform) WHERE is_platform;
