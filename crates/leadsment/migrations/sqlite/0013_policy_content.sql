-- What each policy revision holds, per consent category (the keys and the tags a visitor
-- consents to), so the banner asks again only when a category someone consented to gains
-- something: a revision that only removes (a tag switched off) keeps earlier consents.
-- JSON: {"analytics": ["...", ...], "advertising": [...]}; empty for revisions recorded
-- before this column existed (their consents are asked again).
ALTER TABLE policy_revisions ADD COLUMN content TEXT NOT NULL DEFAULT '';
