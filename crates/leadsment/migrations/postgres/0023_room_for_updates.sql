-- Room on each page for a row's next version. A visit is updated by every event after its
-- first, a company's day and a visitor's day by every event of the day. An update whose new
-- version fits on the row's own page and changes no indexed column is a HOT update: it adds
-- no entry to any index, and the old version is pruned with the page. With full pages
-- (fillfactor 100, the default) each update of a visit added an entry to each of its four
-- indexes. Pages written from now on keep the room; existing ones stay as they are.
ALTER TABLE visits SET (fillfactor = 85);
ALTER TABLE company_days SET (fillfactor = 85);
ALTER TABLE visitor_days SET (fillfactor = 85);
