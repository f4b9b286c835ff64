-- Fewer index writes per event.
--
-- A visit's last-seen time changes with each of its events; indexed beside the visitor hash,
-- every event moved the visit's index entry. A hash has a handful of visits at most, so the
-- hash alone finds them and the time is checked on the rows.
DROP INDEX visits_visitor;
CREATE INDEX visits_visitor ON visits (visitor_hash);

-- Companies are looked up through their visits (a site's visits by a company, then those
-- visits' events), one index entry per visit rather than one per event.
DROP INDEX events_company;
CREATE INDEX visits_company ON visits (site_id, company_id, started_at);
