-- Saved feeds: a name and the company feed's filters (a normalised query string), per site.
-- `name_key` is the name lower-cased, so that names are unique per site whatever their case.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE saved_feeds (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    query       TEXT    NOT NULL,
    -- Who saved it; NULL once that user is gone.
    created_by  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX saved_feeds_site_name ON saved_feeds (site_id, name_key);
