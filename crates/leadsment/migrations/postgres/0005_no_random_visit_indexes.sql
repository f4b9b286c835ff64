-- No index whose entries land on random pages as visits arrive.
--
-- Each new visit added an entry to `visits_company` (a random company), which dirtied a page
-- of its own. A company's visits are read from the site's visits by time (`visits_site_time`),
-- or from daily rollups, instead.
--
-- `visits_visitor` stays: on PostgreSQL several servers write, and a visitor's open visit may
-- have been started by another one, so it is looked up by hash.
DROP INDEX visits_company;
