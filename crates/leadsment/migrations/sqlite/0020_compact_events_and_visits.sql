-- Smaller rows, the same facts.
--
-- 1. A visit's traits (its network's class and country, where it came from, its browser,
-- system and device) are stored once per distinct combination, in `visit_traits`, and each
-- visit holds the combination's id: the twelve texts were about half of every visit row.
-- `key` is the twelve values as a compact JSON array, in the columns' order.
--
-- 2. Events keep only what is their own: what belongs to their visit (the same twelve
-- values) is read from the visit (`JOIN visits`). About half of every event row.
--
-- Visits lose their columns one `DROP COLUMN` at a time (each rewrites the table); a new `visits` table copied from the old one would need the old
-- one dropped, which deletes every event through `ON DELETE CASCADE` (the foreign keys cannot
-- be switched off inside the migration's transaction). Events are copied into a new table,
-- which nothing references. The space freed stays in the file for new rows; `leadsment backup`
-- writes a compact copy.

CREATE TABLE visit_traits (
    id            INTEGER PRIMARY KEY,
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
INSERT INTO visit_traits (key, class, country, source, channel, utm_source, utm_medium,
    utm_campaign, utm_term, utm_content, browser, os, device)
SELECT DISTINCT json_array(class, country, source, channel, utm_source, utm_medium,
        utm_campaign, utm_term, utm_content, browser, os, device),
    class, country, source, channel, utm_source, utm_medium, utm_campaign, utm_term,
    utm_content, browser, os, device
FROM visits;

-- `visit_traits (id)`; rows there are never deleted, so no foreign key is checked.
ALTER TABLE visits ADD COLUMN traits_id INTEGER NOT NULL DEFAULT 0;
UPDATE visits SET traits_id = (SELECT t.id FROM visit_traits t WHERE t.key = json_array(
    visits.class, visits.country, visits.source, visits.channel, visits.utm_source,
    visits.utm_medium, visits.utm_campaign, visits.utm_term, visits.utm_content,
    visits.browser, visits.os, visits.device));
ALTER TABLE visits DROP COLUMN class;
ALTER TABLE visits DROP COLUMN country;
ALTER TABLE visits DROP COLUMN source;
ALTER TABLE visits DROP COLUMN channel;
ALTER TABLE visits DROP COLUMN utm_source;
ALTER TABLE visits DROP COLUMN utm_medium;
ALTER TABLE visits DROP COLUMN utm_campaign;
ALTER TABLE visits DROP COLUMN utm_term;
ALTER TABLE visits DROP COLUMN utm_content;
ALTER TABLE visits DROP COLUMN browser;
ALTER TABLE visits DROP COLUMN os;
ALTER TABLE visits DROP COLUMN device;

CREATE TABLE events_compact (
    -- No AUTOINCREMENT: it would update sqlite_sequence on every insert.
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    -- `visits (id)` and `companies (id)`, unchecked: the writer takes both from rows it has
    -- just written or read, and checking them cost a look-up of each per event. A site's
    -- events go with it through `site_id`; retention deletes events before their visits.
    visit_id    INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    props       TEXT,
    engaged_ms  INTEGER,
    company_id  INTEGER
);
INSERT INTO events_compact (id, site_id, visit_id, ts, name, path, props, engaged_ms,
    company_id)
SELECT id, site_id, visit_id, ts, name, path, props, engaged_ms, company_id FROM events;
DROP TABLE events;
ALTER TABLE events_compact RENAME TO events;
CREATE INDEX events_site_time ON events (site_id, ts);
CREATE INDEX events_visit ON events (visit_id);
