-- Whether a site's snippet waits for the visitor's consent before counting
-- (`data-require-consent`): the settings page shows the snippet with the attribute when on.
ALTER TABLE sites ADD COLUMN require_consent BOOLEAN NOT NULL DEFAULT FALSE;

-- The proof log is looked up by the decision a later one replaced (`previous_id`), on the
-- platform administrators' consents page.
CREATE INDEX consent_log_previous_id ON consent_log (previous_id);
