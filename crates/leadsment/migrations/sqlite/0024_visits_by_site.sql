-- Visits stored in the order of their key, the site and then the id (`WITHOUT ROWID`). A
-- visit id begins with the visit's start time (`tracking::visits::new_visit_id`), so a site's
-- visits of a period are one range of the table itself: the index on the site and start time
-- (`visits_site_time`, about a tenth of the database with one event a visit) is no longer
-- needed, and the row loses its separate rowid. Readers give the site with every visit id
-- (`site_id = ? AND id = ?`), and periods as ranges of ids (`tracking::visits::visit_id_floor`)
-- as well as of start times.
--
-- The start time is the id's first 41 bits, so it is computed from the id when read rather
-- than stored (a `VIRTUAL` column takes no room in the row; `visits_company` still holds it).
--
-- The table is copied: nothing references it (events name their visit unchecked, since
-- migration 0020), so the old one can be dropped.

CREATE TABLE visits_by_site (
    id            INTEGER NOT NULL,
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    visitor_hash  INTEGER NOT NULL,
    started_at    INTEGER NOT NULL GENERATED ALWAYS AS (id >> 22) VIRTUAL,
    last_seen_at  INTEGER NOT NULL,
    company_id    INTEGER REFERENCES companies (id),
    entry_path    TEXT    NOT NULL,
    exit_path     TEXT    NOT NULL,
    pageviews     INTEGER NOT NULL DEFAULT 0,
    events        INTEGER NOT NULL DEFAULT 0,
    engaged_ms    INTEGER NOT NULL DEFAULT 0,
    traits_id     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;
INSERT INTO visits_by_site (id, site_id, visitor_hash, last_seen_at, company_id,
    entry_path, exit_path, pageviews, events, engaged_ms, traits_id)
SELECT id, site_id, visitor_hash, last_seen_at, company_id, entry_path,
    exit_path, pageviews, events, engaged_ms, traits_id
FROM visits ORDER BY site_id, id;
DROP TABLE visits;
ALTER TABLE visits_by_site RENAME TO visits;
-- A company's visits on a site, by start time (for its page and its first visit).
CREATE INDEX visits_company ON visits (site_id, company_id, started_at);
