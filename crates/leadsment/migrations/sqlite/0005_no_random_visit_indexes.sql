-- No index whose entries land on random pages as visits arrive.
--
-- Each new visit added one entry to `visits_visitor` (a random 64-bit hash) and one to
-- `visits_company` (a random company), so each wrote two whole pages of their own to the WAL
-- and again to the database at the next checkpoint: most of what a new visit cost.
--
-- `visits_visitor` found a visitor's open visit. On SQLite one server writes the database, so
-- the event writer keeps every visit of the last 24 hours in memory and reads them back from
-- `visits` (by id, which starts with the visit's start time) when it starts.
DROP INDEX visits_visitor;

-- A company's visits are to be read from the site's visits by time (`visits_site_time`), or
-- from rollups computed apart from ingest, instead of from an index written on every visit.
-- (No query reads visits by company yet.)
DROP INDEX visits_company;

-- (`events_site_time` needs no id added for paged exports, as on PostgreSQL: every SQLite
-- index ends with the row's id.)
