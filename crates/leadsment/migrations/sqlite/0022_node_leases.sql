-- Node tags: each running `leadsment serve` leases one of 1024 tags and puts it in the ids of
-- the visits it opens, so two nodes never choose the same id. A node renews its lease while it
-- runs; a tag whose lease has expired (its node stopped or lost the database) may be taken by
-- another. Rows for every tag exist from the start; a free tag has no holder. Times are
-- milliseconds since the Unix epoch. Additive: older nodes still running ignore the table.
CREATE TABLE node_leases (
    tag         INTEGER NOT NULL PRIMARY KEY CHECK (tag BETWEEN 0 AND 1023),
    -- A random name the node chose at start (no host name or address).
    holder      TEXT,
    expires_at  INTEGER NOT NULL DEFAULT 0
);

WITH RECURSIVE t (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM t WHERE n < 1023)
INSERT INTO node_leases (tag) SELECT n FROM t;
