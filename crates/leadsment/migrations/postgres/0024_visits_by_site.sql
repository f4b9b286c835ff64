-- SQLite only (visits stored in the order of the site and id, without a rowid): PostgreSQL's
-- tables are heaps, and its visits keep their indexes. Kept so both backends share one schema
-- version.
SELECT 1;
