-- The legal pages written in Markdown (`/legal/privacy`, `/legal/terms`,
-- `/legal/acceptable-use`), kept in the store so every node serves the same text. A page's row
-- is made from the built-in default the first time it is asked for. Times are milliseconds
-- since the Unix epoch.
CREATE TABLE legal_pages (
    page         TEXT    NOT NULL PRIMARY KEY,
    markdown     TEXT    NOT NULL,
    -- When the text last changed: the page's "Last updated". A save of the same text keeps it.
    updated_at   BIGINT  NOT NULL,
    -- Still the built-in template, which no platform administrator has reviewed.
    is_template  BOOLEAN NOT NULL,
    -- The last save, changed or not, and the administrator who made it (email).
    saved_at     BIGINT,
    saved_by     TEXT
);
