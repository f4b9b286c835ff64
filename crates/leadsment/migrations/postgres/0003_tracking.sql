-- Tracking: companies, visits (analytics sessions), events, bot counts, per-site ignore lists.
-- No column holds an IP address or a user-agent string.

-- An organisation seen behind visits, keyed by what identifies it best (domain, then ASN and
-- name): one row however many networks it has.
CREATE TABLE companies (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key            TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    org            TEXT,
    domain         TEXT,
    asn            BIGINT,
    country        TEXT,
    class          TEXT    NOT NULL,
    first_seen_at  BIGINT  NOT NULL
);

CREATE TABLE visits (
    -- Ids chosen by the writer (time, node tag, counter), so new visits are inserted in bulk.
    id            BIGINT  PRIMARY KEY,
    site_id       BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    visitor_hash  BIGINT  NOT NULL,
    started_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    company_id    BIGINT  REFERENCES companies (id),
    class         TEXT    NOT NULL,
    country       TEXT,
    entry_path    TEXT    NOT NULL,
    exit_path     TEXT    NOT NULL,
    pageviews     BIGINT  NOT NULL DEFAULT 0,
    events        BIGINT  NOT NULL DEFAULT 0,
    engaged_ms    BIGINT  NOT NULL DEFAULT 0,
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
CREATE INDEX visits_visitor ON visits (visitor_hash, last_seen_at);
CREATE INDEX visits_site_time ON visits (site_id, started_at);

CREATE TABLE events (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    visit_id      BIGINT  NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    ts            BIGINT  NOT NULL,
    name          TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    props         TEXT,
    engaged_ms    BIGINT,
    company_id    BIGINT  REFERENCES companies (id),
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
CREATE INDEX events_site_time ON events (site_id, ts);
CREATE INDEX events_visit ON events (visit_id);
CREATE INDEX events_company ON events (site_id, company_id, ts);

-- Bots are counted per site and day (in the site's time zone), never stored as visits.
CREATE TABLE bot_counts (
    site_id  BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day      TEXT    NOT NULL,
    count    BIGINT  NOT NULL,
    PRIMARY KEY (site_id, day)
);

-- Networks whose visits a site ignores (the customer's own offices).
CREATE TABLE site_ignored_networks (
    site_id  BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    network  TEXT    NOT NULL,
    PRIMARY KEY (site_id, network)
);
