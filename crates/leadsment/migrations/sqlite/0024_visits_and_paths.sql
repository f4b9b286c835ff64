-- Smaller rows, the same facts (with one event a visit, 257 bytes per event before, 192
-- after, in a load of 300,000 events).
--
-- 1. Paths stored once per site, in `paths`, and named by their id everywhere else: in
-- events, in visits (entry and exit) and in the pageviews per path and company
-- (`company_paths`). A path is 10 to 60 characters of text; its id takes one to three bytes.
-- `paths` replaces `site_paths` (page patterns are matched against it) and also holds the
-- paths of events other than pageviews, which have no `company_paths` rows. Its rows go with
-- their site and are otherwise kept.
--
-- 2. Visits stored in the order of their key, the site and then the id (`WITHOUT ROWID`). A
-- visit id begins with the visit's start time (`tracking::visits::new_visit_id`), so a
-- site's visits of a period are one range of the table itself: the index on the site and
-- start time (`visits_site_time`) is gone, and the row loses its separate rowid. Readers give
-- the site with every visit id (`site_id = ? AND id = ?`), and periods as ranges of ids
-- (`tracking::visits::visit_ids_started`) as well as of start times. The start time is the
-- id's first 41 bits, so it is computed when read rather than stored (a `VIRTUAL` column
-- takes no room in the row), and so is the last event's time, from the milliseconds after
-- the start (`seen_ms`: no room for a visit of one event). A company's visits are indexed by
-- site and company alone: in id order, they are in start order.
--
-- 3. Events stored in the order of their site and time (`WITHOUT ROWID`, keyed by site,
-- time and id): a site's events of a period are one range of the table, and the index on
-- the site and time (`events_site_time`) is gone. The writer numbers them (`event_ids`).
-- An event's name is stored only when it is not 'pageview' (`other_name`); `name` is
-- computed, so readers ask for it as before.
--
-- 4. Visitor hashes keep 47 bits (`tracking::visitor::HASH_BITS`), which SQLite stores in 6
-- bytes rather than 8. The stored ones are cut the same way (their first 47 bits), so open
-- visits go on and visitors' days keep counting the same visitors; two visitors' days that
-- the cut makes one are added together.
--
-- Events, visits and company paths are copied into new tables (nothing references any of
-- them: events name their visit unchecked since migration 0020).

CREATE TABLE paths (
    id       INTEGER PRIMARY KEY,
    site_id  INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path     TEXT    NOT NULL,
    UNIQUE (site_id, path)
);
INSERT INTO paths (site_id, path)
SELECT site_id, path FROM site_paths
UNION SELECT site_id, path FROM company_paths
UNION SELECT site_id, entry_path FROM visits
UNION SELECT site_id, exit_path FROM visits
UNION SELECT site_id, path FROM events
ORDER BY 1, 2;

CREATE TABLE events_by_path (
    id          INTEGER NOT NULL,
    site_id     INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    visit_id    INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    -- The event's name, computed: 'pageview' (most events) is stored as NULL.
    name        TEXT    NOT NULL GENERATED ALWAYS AS (COALESCE(other_name, 'pageview'))
                VIRTUAL,
    other_name  TEXT,
    path_id     INTEGER NOT NULL,
    props       TEXT,
    engaged_ms  INTEGER,
    company_id  INTEGER,
    PRIMARY KEY (site_id, ts, id)
) WITHOUT ROWID;
INSERT INTO events_by_path (id, site_id, visit_id, ts, other_name, path_id, props,
    engaged_ms, company_id)
SELECT e.id, e.site_id, e.visit_id, e.ts, NULLIF(e.name, 'pageview'), p.id, e.props,
    e.engaged_ms, e.company_id
FROM events e JOIN paths p ON p.site_id = e.site_id AND p.path = e.path
ORDER BY e.site_id, e.ts, e.id;
-- The writer numbers events itself (a table without rowid has no automatic key): the next
-- id, never one used before.
CREATE TABLE event_ids (next INTEGER NOT NULL);
INSERT INTO event_ids (next) SELECT COALESCE(MAX(id), 0) + 1 FROM events;
DROP TABLE events;
ALTER TABLE events_by_path RENAME TO events;
CREATE INDEX events_visit ON events (visit_id);

CREATE TABLE visits_by_path (
    id             INTEGER NOT NULL,
    site_id        INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    visitor_hash   INTEGER NOT NULL,
    started_at     INTEGER NOT NULL GENERATED ALWAYS AS (id >> 22) VIRTUAL,
    -- The last event's time, as milliseconds after the start (0 for a visit of one event).
    last_seen_at   INTEGER NOT NULL GENERATED ALWAYS AS ((id >> 22) + seen_ms) VIRTUAL,
    seen_ms        INTEGER NOT NULL,
    company_id     INTEGER REFERENCES companies (id),
    entry_path_id  INTEGER NOT NULL,
    exit_path_id   INTEGER NOT NULL,
    pageviews      INTEGER NOT NULL DEFAULT 0,
    events         INTEGER NOT NULL DEFAULT 0,
    engaged_ms     INTEGER NOT NULL DEFAULT 0,
    traits_id      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;
INSERT INTO visits_by_path (id, site_id, visitor_hash, seen_ms, company_id,
    entry_path_id, exit_path_id, pageviews, events, engaged_ms, traits_id)
SELECT v.id, v.site_id, (v.visitor_hash >> 17) & 140737488355327,
    v.last_seen_at - (v.id >> 22), v.company_id, a.id, b.id,
    v.pageviews, v.events, v.engaged_ms, v.traits_id
FROM visits v
JOIN paths a ON a.site_id = v.site_id AND a.path = v.entry_path
JOIN paths b ON b.site_id = v.site_id AND b.path = v.exit_path
ORDER BY v.site_id, v.id;
DROP TABLE visits;
ALTER TABLE visits_by_path RENAME TO visits;
-- A company's visits on a site, in the order of their ids, which is that of their starts.
CREATE INDEX visits_company ON visits (site_id, company_id);

CREATE TABLE company_paths_by_id (
    site_id     INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path_id     INTEGER NOT NULL,
    day         INTEGER NOT NULL,
    company_id  INTEGER NOT NULL,
    pageviews   INTEGER NOT NULL,
    PRIMARY KEY (site_id, path_id, day, company_id)
) WITHOUT ROWID;
INSERT INTO company_paths_by_id (site_id, path_id, day, company_id, pageviews)
SELECT c.site_id, p.id, c.day, c.company_id, c.pageviews
FROM company_paths c JOIN paths p ON p.site_id = c.site_id AND p.path = c.path
ORDER BY 1, 2, 3, 4;
DROP TABLE company_paths;
ALTER TABLE company_paths_by_id RENAME TO company_paths;
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
