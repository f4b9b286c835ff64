-- How long each site keeps its traffic, in months (docs/operations.md, "Retention"): the
-- retention job deletes older events, visits, rollups and bot counts.
ALTER TABLE sites ADD COLUMN retention_months BIGINT NOT NULL DEFAULT 25
    CONSTRAINT sites_retention_months CHECK (retention_months BETWEEN 1 AND 120);

-- Events partitioned by month of `ts` (docs/operations.md, "Partitions"), so that retention
-- drops whole months instead of deleting row by row. Nothing is copied: the table as it is
-- becomes the first partition, holding everything before the start of next month, and a new
-- parent takes its name, its columns (whichever they are), indexes and foreign keys.
--
-- What would take long is done before this migration, without blocking writers, by the
-- server (`leadsment migrate` and `serve`, src/store/migrate.rs): the unique index on
-- (id, ts) that becomes the partition's primary key, built CONCURRENTLY, and the CHECK
-- constraint on `ts` that lets ATTACH skip its scan, added NOT VALID then validated. Both
-- are made here when missing (a database migrated by other tools), then under this
-- migration's lock. CONCURRENTLY cannot be written in this file: sqlx sends a
-- `-- no-transaction` migration as one multi-statement query, which PostgreSQL runs as one
-- implicit transaction, and CREATE INDEX CONCURRENTLY refuses to run inside one.
DO $$
DECLARE
    bound    BIGINT;
    next_id  BIGINT;
    idx      RECORD;
    defs     TEXT[] := '{}';
    fks      TEXT[] := '{}';
    d        TEXT;
    m        TIMESTAMP;
BEGIN
    -- The first partition ends where the validated bound says, or at next month's start.
    SELECT substring(pg_get_constraintdef(oid) FROM '(\d+)')::BIGINT INTO bound
    FROM pg_constraint
    WHERE conrelid = 'events'::regclass AND conname = 'events_partition_bound' AND convalidated;
    IF bound IS NULL THEN
        -- One left unvalidated by an interrupted start is made again.
        IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'events'::regclass
                   AND conname = 'events_partition_bound') THEN
            ALTER TABLE events DROP CONSTRAINT events_partition_bound;
        END IF;
        bound := (EXTRACT(EPOCH FROM date_trunc('month', now() AT TIME ZONE 'UTC')
            + INTERVAL '1 month') * 1000)::BIGINT;
        EXECUTE format('ALTER TABLE events ADD CONSTRAINT events_partition_bound '
            'CHECK (ts < %s) NOT VALID', bound);
        ALTER TABLE events VALIDATE CONSTRAINT events_partition_bound;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('events_old_pkey')
               AND NOT indisvalid) THEN
        DROP INDEX events_old_pkey;
    END IF;
    IF to_regclass('events_old_pkey') IS NULL THEN
        CREATE UNIQUE INDEX events_old_pkey ON events (id, ts);
    END IF;

    -- What the parent takes over: every other index's definition and every foreign key.
    FOR idx IN SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = 'events'::regclass AND NOT i.indisprimary
                 AND c.relname <> 'events_old_pkey'
    LOOP
        defs := defs || idx.def;
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname, left('events_old_' || idx.relname, 63));
    END LOOP;
    SELECT COALESCE(array_agg(format('ALTER TABLE events ADD CONSTRAINT %I %s',
               conname, pg_get_constraintdef(oid))), '{}')
    INTO fks FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'f';

    -- The identity becomes a sequence of the parent's (PostgreSQL 15 has no identity on a
    -- partitioned table); the primary key takes in `ts`, as a partitioned table's must.
    SELECT COALESCE(max(id), 0) + 1 INTO next_id FROM events;
    ALTER TABLE events ALTER COLUMN id DROP IDENTITY IF EXISTS;
    ALTER TABLE events DROP CONSTRAINT events_pkey;
    ALTER TABLE events ADD CONSTRAINT events_old_pkey PRIMARY KEY USING INDEX events_old_pkey;
    ALTER TABLE events RENAME TO events_old;

    CREATE TABLE events (LIKE events_old INCLUDING DEFAULTS) PARTITION BY RANGE (ts);
    EXECUTE format('CREATE SEQUENCE events_id_seq AS BIGINT START WITH %s OWNED BY events.id',
        next_id);
    ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq');
    ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id, ts);
    -- On a parent without partitions these take no time; ATTACH then adopts the old table's
    -- matching indexes and foreign keys instead of building or checking them again.
    FOREACH d IN ARRAY defs LOOP EXECUTE d; END LOOP;
    FOREACH d IN ARRAY fks LOOP EXECUTE d; END LOOP;
    EXECUTE format('ALTER TABLE events ATTACH PARTITION events_old '
        'FOR VALUES FROM (MINVALUE) TO (%s)', bound);

    -- The three months after it; the retention job keeps three months ahead from now on.
    m := to_timestamp(bound / 1000) AT TIME ZONE 'UTC';
    FOR i IN 0..2 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%s) TO (%s)',
            'events_' || to_char(m + make_interval(months => i), 'YYYY_MM'),
            (EXTRACT(EPOCH FROM m + make_interval(months => i)) * 1000)::BIGINT,
            (EXTRACT(EPOCH FROM m + make_interval(months => i + 1)) * 1000)::BIGINT);
    END LOOP;
    -- Whatever no month's partition takes (a clock far ahead, the job stopped for months)
    -- lands here rather than being refused; it is normally empty.
    CREATE TABLE events_default PARTITION OF events DEFAULT;
END
$$;
