-- The rate-limit view's forecast counts the jobs finished in the last
-- minutes; without this it would read the whole job history each time.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
