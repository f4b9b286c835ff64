-- The platform workspace: the instance's own, holding the site of its public pages (see
-- docs/public-site.md). Platform administrators may open it without being members.
ALTER TABLE workspaces ADD COLUMN is_platform INTEGER NOT NULL DEFAULT 0;
-- At most one, even when two processes start at once.
CREATE UNIQUE INDEX workspaces_one_platform ON workspaces (is_platform) WHERE is_platform = 1;
