-- Site ownership (docs/ownership.md): each host a site claims is proven by a DNS TXT record
-- or a file carrying its workspace's token. Times are milliseconds since the Unix epoch.
ALTER TABLE site_hosts ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0;
-- NULL while the host is unverified.
ALTER TABLE site_hosts ADD COLUMN verified_at BIGINT;
-- The last check: when, which ways (`dns`, `file`), what was looked for and what was found.
ALTER TABLE site_hosts ADD COLUMN checked_at BIGINT;
ALTER TABLE site_hosts ADD COLUMN check_how TEXT;
ALTER TABLE site_hosts ADD COLUMN check_sought TEXT;
ALTER TABLE site_hosts ADD COLUMN check_found TEXT;
-- Hosts claimed before ownership was checked keep working: they count as verified.
UPDATE site_hosts SET claimed_at = COALESCE((SELECT created_at FROM sites WHERE sites.id = site_hosts.site_id), 0),
                      verified_at = COALESCE((SELECT created_at FROM sites WHERE sites.id = site_hosts.site_id), 0);
-- The first time any site claimed each host, kept when the host is let go: an unverified
-- host's 72 hours of grace count from it, so removing a host and claiming it again (or
-- deleting the site, or claiming it from another workspace) never starts a new grace.
CREATE TABLE host_first_claims (
    host        TEXT    NOT NULL PRIMARY KEY,
    claimed_at  BIGINT  NOT NULL
);
INSERT INTO host_first_claims (host, claimed_at) SELECT host, claimed_at FROM site_hosts;
CREATE INDEX site_hosts_unverified ON site_hosts (checked_at) WHERE verified_at IS NULL;

-- The workspace's verification token (`leadsment-verify=<token>`), made when first shown.
ALTER TABLE workspaces ADD COLUMN verify_token TEXT;
