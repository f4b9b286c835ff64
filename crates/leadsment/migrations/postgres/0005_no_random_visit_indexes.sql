-- No index whose entries land on random pages as visits arrive.
--
-- Each new visit added an entry to `visits_company` (a random company), which dirtied a page
-- of its own. A company's visits are to be read from the site's visits by time
-- (`visits_site_time`), or from rollups computed apart from ingest, instead. (No query reads
-- visits by company yet.)
--
-- `visits_visitor` stays: on PostgreSQL several servers write, and a visitor's open visit may
-- have been started by another one, so it is looked up by hash.
DROP INDEX visits_company;

-- An export pages through a site's events in time order, each page starting after the last
-- event's time and id; with the id in the index, each page is one range read.
DROP INDEX events_site_time;
CREATE INDEX events_site_time ON events (site_id, ts, id);
