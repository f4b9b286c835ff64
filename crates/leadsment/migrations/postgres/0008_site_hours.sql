-- Which UTC hours of a site's traffic changed, in place of `site_days`: every batch the event
-- writer commits gives each hour it touched (a visit's start hour, an event's hour) a new
-- random version, in the same transaction. The dashboard keeps what it has read of an hour,
-- or of a day (under all its hours' versions), while those versions stay the same, on every
-- node (docs/leads.md, "What each node keeps of a day"). By the hour, so that a site in use
-- changes only its latest hour, not all of today. Random rather than counted: a site created
-- again under an old id cannot meet a version seen before.
CREATE TABLE site_hours (
    site_id  BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hour     BIGINT NOT NULL,
    version  BIGINT NOT NULL,
    PRIMARY KEY (site_id, hour)
);

INSERT INTO site_hours (site_id, hour, version)
SELECT site_id, hour, (random() * 9.2e18)::bigint FROM (
    SELECT site_id, started_at / 3600000 AS hour FROM visits
    UNION
    SELECT site_id, ts / 3600000 FROM events
) AS hours;

DROP TABLE site_days;
