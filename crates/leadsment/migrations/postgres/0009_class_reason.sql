-- Why the IP data classes a company as it does ("reviewed: ...", "isp: name contains ...").
-- The dashboard shows it beside the class. Rows from before this column get it the next time
-- the company is seen.
ALTER TABLE companies ADD COLUMN class_reason TEXT;
