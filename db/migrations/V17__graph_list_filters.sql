-- The language filter of /v1/repositories at a million rows (issue 13's
-- graph lists benchmark). An index on the expression the filter compares,
-- lower(language), followed by the default order's keys: `language=X`
-- sorted by stars (either way) walks one range of it, a rare language as
-- fast as a common one. ANALYZE also keeps statistics of an indexed
-- expression: without them the planner guessed 0.5% of the rows for any
-- language (5,000 of 1,000,000 where JavaScript has 310,000), so the
-- list's count took its exact path and scanned tens of thousands of rows
-- on every page.
CREATE INDEX repositories_language_stars_idx
    ON repositories (lower(language), stargazers_count, id);
