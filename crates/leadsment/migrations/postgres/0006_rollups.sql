-- Every node must be stopped for this migration: a node still running the previous version
-- would write events without their rollups. The lock keeps writers out while the rollups are
-- filled, so the four statements below see the same traffic.
LOCK TABLE visits, events IN SHARE MODE;

-- Rollups the dashboard reads instead of the raw visits and events: per-company sums by UTC
-- day, kept by the event writer in the same transaction as the events they count (so they are
-- exact on every node, commit or roll back with the events, and go with a site). A day is a
-- UTC day (`ts / 86400000`): a period's whole UTC days come from here, the hours at its local
-- edges from the raw tables.

-- Each visit's visitor, as a count of visits per (site, start day, visitor hash, company):
-- a company's visitors on a day are its rows here. Visitor hashes change with the UTC day, so
-- the days' counts add up to a period's distinct visitors.
CREATE TABLE visitor_days (
    site_id       BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day           BIGINT NOT NULL,
    company_id    BIGINT NOT NULL,
    visitor_hash  BIGINT NOT NULL,
    visits        BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, company_id, visitor_hash)
);

-- Per company and UTC day: visits started that day, with their visitors, engaged time and
-- latest event; pageviews that happened that day.
CREATE TABLE company_days (
    site_id       BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day           BIGINT NOT NULL,
    company_id    BIGINT NOT NULL,
    visits        BIGINT NOT NULL DEFAULT 0,
    visitors      BIGINT NOT NULL DEFAULT 0,
    pageviews     BIGINT NOT NULL DEFAULT 0,
    engaged_ms    BIGINT NOT NULL DEFAULT 0,
    last_seen_at  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, day, company_id)
);
-- A company's days, on every site: its page reads its own site's from them.
CREATE INDEX company_days_company ON company_days (company_id, site_id, day);

-- Pageviews per path, UTC day and company: page patterns are matched against a site's paths
-- (`site_paths`), then the matching paths' rows read.
CREATE TABLE company_paths (
    site_id     BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path        TEXT    NOT NULL,
    day         BIGINT NOT NULL,
    company_id  BIGINT NOT NULL,
    pageviews   BIGINT NOT NULL,
    PRIMARY KEY (site_id, path, day, company_id)
);
-- A company's pages: the index holds the counts, so they are read from it alone.
CREATE INDEX company_paths_company ON company_paths (site_id, company_id, day, path, pageviews);

-- Every path a site has had a pageview of.
CREATE TABLE site_paths (
    site_id  BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path     TEXT    NOT NULL,
    PRIMARY KEY (site_id, path)
);

-- A company's visits, newest first, for its page.
CREATE INDEX visits_company ON visits (site_id, company_id, started_at);

-- What the tables held before: the rollups of every stored visit and event.
INSERT INTO visitor_days (site_id, day, company_id, visitor_hash, visits)
SELECT site_id, started_at / 86400000, company_id, visitor_hash, COUNT(*)
FROM visits WHERE company_id IS NOT NULL
GROUP BY site_id, started_at / 86400000, company_id, visitor_hash;

INSERT INTO company_days (site_id, day, company_id, visits, visitors, pageviews, engaged_ms,
    last_seen_at)
SELECT site_id, day, company_id, SUM(visits), SUM(visitors), SUM(pageviews), SUM(engaged_ms),
    MAX(last_seen_at)
FROM (
    SELECT site_id, started_at / 86400000 AS day, company_id, COUNT(*) AS visits,
        COUNT(DISTINCT visitor_hash) AS visitors, 0 AS pageviews,
        SUM(engaged_ms) AS engaged_ms, MAX(last_seen_at) AS last_seen_at
    FROM visits WHERE company_id IS NOT NULL
    GROUP BY site_id, started_at / 86400000, company_id
    UNION ALL
    SELECT site_id, ts / 86400000, company_id, 0, 0, COUNT(*), 0, 0
    FROM events WHERE name = 'pageview' AND company_id IS NOT NULL
    GROUP BY site_id, ts / 86400000, company_id
) AS parts
GROUP BY site_id, day, company_id;

INSERT INTO company_paths (site_id, path, day, company_id, pageviews)
SELECT site_id, path, ts / 86400000, company_id, COUNT(*)
FROM events WHERE name = 'pageview' AND company_id IS NOT NULL
GROUP BY site_id, path, ts / 86400000, company_id;

INSERT INTO site_paths (site_id, path)
SELECT DISTINCT site_id, path FROM events WHERE name = 'pageview';
