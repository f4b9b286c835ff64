-- A site's score rules, when its admins changed them from the defaults: the rules as JSON.
-- Scores are computed when read, so nothing else changes when they are saved.
CREATE TABLE site_score_rules (
    site_id     INTEGER PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    rules_json  TEXT    NOT NULL,
    updated_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    updated_at  INTEGER NOT NULL
);
