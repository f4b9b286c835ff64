-- Smaller rows, the same facts. Every node must be stopped for this migration: it rewrites
-- every visit, and a node still running the previous version would write visits without
-- their traits (refused: `traits_id` is NOT NULL).
--
-- 1. A visit's traits (its network's class and country, where it came from, its browser,
-- system and device) are stored once per distinct combination, in `visit_traits`, and each
-- visit holds the combination's id: the twelve texts were about half of every visit row.
-- `key` is the twelve values as a compact JSON array, in the columns' order.
--
-- 2. Events keep only what is their own: what belongs to their visit (the same twelve
-- values) is read from the visit (`JOIN visits`). Dropping a column only marks it dropped (no
-- rewrite): events written before keep their bytes until they are deleted or the table is
-- rewritten (`VACUUM FULL`), events written after are about half the size.
CREATE TABLE visit_traits (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    class         TEXT    NOT NULL,
    country       TEXT,
    source        TEXT,
    channel       TEXT    NOT NULL,
    utm_source    TEXT,
    utm_medium    TEXT,
    utm_campaign  TEXT,
    utm_term      TEXT,
    utm_content   TEXT,
    browser       TEXT,
    os            TEXT,
    device        TEXT    NOT NULL
);

-- The key as the writer makes it: compact JSON, `null` for a missing value.
CREATE FUNCTION pg_temp.traits_key(VARIADIC v TEXT[]) RETURNS TEXT LANGUAGE SQL IMMUTABLE AS $$
    SELECT '[' || string_agg(COALESCE(to_json(x)::text, 'null'), ',' ORDER BY n) || ']'
    FROM unnest(v) WITH ORDINALITY AS u (x, n)
$$;

INSERT INTO visit_traits (key, class, country, source, channel, utm_source, utm_medium,
    utm_campaign, utm_term, utm_content, browser, os, device)
SELECT DISTINCT pg_temp.traits_key(class, country, source, channel, utm_source, utm_medium,
        utm_campaign, utm_term, utm_content, browser, os, device),
    class, country, source, channel, utm_source, utm_medium, utm_campaign, utm_term,
    utm_content, browser, os, device
FROM visits;

-- `visit_traits (id)`; rows there are never deleted, so no foreign key is checked.
ALTER TABLE visits ADD COLUMN traits_id BIGINT;
UPDATE visits v SET traits_id = t.id FROM visit_traits t
WHERE t.key = pg_temp.traits_key(v.class, v.country, v.source, v.channel, v.utm_source,
    v.utm_medium, v.utm_campaign, v.utm_term, v.utm_content, v.browser, v.os, v.device);
-- `companies (id)` unchecked too, for the same reason as the events' below (companies are
-- never deleted).
ALTER TABLE visits
    DROP CONSTRAINT visits_company_id_fkey,
    ALTER COLUMN traits_id SET NOT NULL,
    DROP COLUMN class,
    DROP COLUMN country,
    DROP COLUMN source,
    DROP COLUMN channel,
    DROP COLUMN utm_source,
    DROP COLUMN utm_medium,
    DROP COLUMN utm_campaign,
    DROP COLUMN utm_term,
    DROP COLUMN utm_content,
    DROP COLUMN browser,
    DROP COLUMN os,
    DROP COLUMN device;

-- `visits (id)` and `companies (id)` are no longer checked for each event: the writer takes
-- both from rows it has just written or read, and each check was a trigger and a look-up per
-- row. A site's events go with it through `site_id`; retention deletes events before their
-- visits.
ALTER TABLE events
    DROP CONSTRAINT events_visit_id_fkey,
    DROP CONSTRAINT events_company_id_fkey,
    DROP COLUMN class,
    DROP COLUMN country,
    DROP COLUMN source,
    DROP COLUMN channel,
    DROP COLUMN utm_source,
    DROP COLUMN utm_medium,
    DROP COLUMN utm_campaign,
    DROP COLUMN utm_term,
    DROP COLUMN utm_content,
    DROP COLUMN browser,
    DROP COLUMN os,
    DROP COLUMN device;
