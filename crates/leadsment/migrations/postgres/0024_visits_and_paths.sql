-- Paths stored once per site, in `paths`, and named by their id everywhere else. Every node
-- must be stopped for this migration: a node still running the previous version would write
-- paths as text into columns that are gone (refused, so its events would be answered 503).
--
-- Events, visits (entry and exit) and the pageviews per path and company (`company_paths`)
-- name a path by its id. A path is 10 to 60 characters of text; its id is a number.
-- `paths` replaces `site_paths` (page patterns are matched against it) and also holds the
-- paths of events other than pageviews, which have no `company_paths` rows. Its rows go with
-- their site and are otherwise kept.
--
-- Every row of events, visits and company paths is rewritten (an `UPDATE` of each): on a
-- large database this migration takes minutes, and the tables take twice their space until
-- `VACUUM` frees the old rows' room for new ones.

CREATE TABLE paths (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id  BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path     TEXT   NOT NULL,
    UNIQUE (site_id, path)
);
INSERT INTO paths (site_id, path)
SELECT site_id, path FROM site_paths
UNION SELECT site_id, path FROM company_paths
UNION SELECT site_id, entry_path FROM visits
UNION SELECT site_id, exit_path FROM visits
UNION SELECT site_id, path FROM events
ORDER BY 1, 2;

ALTER TABLE events ADD COLUMN path_id BIGINT;
UPDATE events e SET path_id = p.id FROM paths p WHERE p.site_id = e.site_id AND p.path = e.path;
ALTER TABLE events ALTER COLUMN path_id SET NOT NULL, DROP COLUMN path;

ALTER TABLE visits ADD COLUMN entry_path_id BIGINT, ADD COLUMN exit_path_id BIGINT;
-- Visitor hashes keep 47 bits (`tracking::visitor::HASH_BITS`); the stored ones are cut the
-- same way (their first 47 bits), so open visits go on and visitors' days keep counting the
-- same visitors; two visitors' days that the cut makes one are added together.
UPDATE visits v SET entry_path_id = a.id, exit_path_id = b.id,
    visitor_hash = (v.visitor_hash >> 17) & 140737488355327
FROM paths a, paths b
WHERE a.site_id = v.site_id AND a.path = v.entry_path
  AND b.site_id = v.site_id AND b.path = v.exit_path;
ALTER TABLE visits ALTER COLUMN entry_path_id SET NOT NULL,
    ALTER COLUMN exit_path_id SET NOT NULL, DROP COLUMN entry_path, DROP COLUMN exit_path;
-- A company's visits in the order of their ids (which begin with the start time), as readers
-- now ask for them (SQLite's index holds no start time).
DROP INDEX visits_company;
CREATE INDEX visits_company ON visits (site_id, company_id, id);

CREATE TABLE company_paths_by_id (
    site_id     BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path_id     BIGINT NOT NULL,
    day         BIGINT NOT NULL,
    company_id  BIGINT NOT NULL,
    pageviews   BIGINT NOT NULL,
    PRIMARY KEY (site_id, path_id, day, company_id)
);
INSERT INTO company_paths_by_id (site_id, path_id, day, company_id, pageviews)
SELECT c.site_id, p.id, c.day, c.company_id, c.pageviews
FROM company_paths c JOIN paths p ON p.site_id = c.site_id AND p.path = c.path
ORDER BY 1, 2, 3, 4;
DROP TABLE company_paths;
ALTER TABLE company_paths_by_id RENAME TO company_paths;
ALTER INDEX company_paths_by_id_pkey RENAME TO company_paths_pkey;
-- A company's pages: the index holds the counts, so they are read from it alone.
CREATE INDEX company_paths_company ON company_paths (site_id, company_id, day, path_id,
    pageviews);

DROP TABLE site_paths;

CREATE TEMP TABLE visitor_days_cut AS
SELECT site_id, day, company_id, (visitor_hash >> 17) & 140737488355327 AS visitor_hash,
    SUM(visits) AS visits
FROM visitor_days GROUP BY 1, 2, 3, 4;
DELETE FROM visitor_days;
INSERT INTO visitor_days (site_id, day, company_id, visitor_hash, visits)
SELECT site_id, day, company_id, visitor_hash, visits FROM visitor_days_cut ORDER BY 1, 2, 3, 4;
DROP TABLE visitor_days_cut;
