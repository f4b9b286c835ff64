-- PostgreSQL only (free room on each page for updates, `fillfactor`): SQLite rewrites a row
-- in place and has no such setting. Kept so both backends share one schema version.
SELECT 1;
