-- The tables ingest writes for every event (events, visits, visitor_days, company_days,
-- company_paths) no longer check their site by foreign key. A foreign key runs a look-up of
-- the site, and locks it, for each row inserted: four to five per event, about half the time
-- of each insert. The event writer instead locks the sites of its batch once (`FOR KEY
-- SHARE`, as the foreign keys did) and leaves out the events of a site that is gone.
--
-- Deleting a site still deletes these rows in the same transaction, as `ON DELETE CASCADE`
-- did: the trigger below. Other tables keep their foreign keys.

ALTER TABLE events DROP CONSTRAINT events_site_id_fkey;
ALTER TABLE visits DROP CONSTRAINT visits_site_id_fkey;
ALTER TABLE visitor_days DROP CONSTRAINT visitor_days_site_id_fkey;
ALTER TABLE company_days DROP CONSTRAINT company_days_site_id_fkey;
ALTER TABLE company_paths DROP CONSTRAINT company_paths_by_id_site_id_fkey;

CREATE FUNCTION delete_site_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM events WHERE site_id = OLD.id;
    DELETE FROM visits WHERE site_id = OLD.id;
    DELETE FROM visitor_days WHERE site_id = OLD.id;
    DELETE FROM company_days WHERE site_id = OLD.id;
    DELETE FROM company_paths WHERE site_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sites_delete_rows AFTER DELETE ON sites
    FOR EACH ROW EXECUTE FUNCTION delete_site_rows();
