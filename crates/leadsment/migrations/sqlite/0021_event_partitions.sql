-- How long each site keeps its traffic, in months (docs/operations.md, "Retention"): the
-- retention job deletes older events, visits, rollups and bot counts. SQLite has no
-- partitions: PostgreSQL's migration of the same number also partitions its events by month.
ALTER TABLE sites ADD COLUMN retention_months INTEGER NOT NULL DEFAULT 25
    CHECK (retention_months BETWEEN 1 AND 120);
