-- Which UTC days of a site's traffic changed: every batch the event writer commits gives each
-- day it touched (a visit's start day, an event's day) a new random version, in the same
-- transaction. The dashboard keeps what it has read of a day while the day's version stays
-- the same, on every node (docs/leads.md, "Where the figures come from"). Random rather than
-- counted: a site created again under an old id cannot meet a version seen before.
CREATE TABLE site_days (
    site_id  BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day      BIGINT NOT NULL,
    version  BIGINT NOT NULL,
    PRIMARY KEY (site_id, day)
);

INSERT INTO site_days (site_id, day, version)
SELECT site_id, day, (random() * 9.2e18)::bigint FROM (
    SELECT site_id, started_at / 86400000 AS day FROM visits
    UNION
    SELECT site_id, ts / 86400000 FROM events
) AS days;
