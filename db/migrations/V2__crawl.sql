-- What a topic crawl remembers between runs.

-- Each search page (and window probe) last fetched, per token: GitHub's ETags
-- are per caller. On a 304 the crawl reuses the ids, count and next link
-- stored here, so an unchanged topic costs no quota. Also how a retried or
-- resumed crawl skips cheaply over the pages it already stored.
CREATE TABLE crawl_pages (
    token_id       TEXT NOT NULL,
    url            TEXT NOT NULL,
    etag           TEXT NOT NULL,
    total_count    BIGINT NOT NULL CHECK (total_count >= 0),
    repository_ids BIGINT[] NOT NULL DEFAULT '{}',
    next_url       TEXT,
    fetched_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, url)
);

-- The repositories a crawl job has seen so far, keyed by the job, so that a
-- retried or rescheduled run of the same job keeps what the earlier runs saw
-- and membership is pruned only after a complete walk.
CREATE TABLE crawl_seen (
    job_id        BIGINT NOT NULL,
    topic_id      BIGINT NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    repository_id BIGINT NOT NULL,
    PRIMARY KEY (job_id, repository_id)
);
CREATE INDEX crawl_seen_topic_idx ON crawl_seen (topic_id, job_id);

-- The calls of a crawl job's earlier runs (a rate limit reschedules a crawl
-- mid-walk), so that the result of the run that finishes counts them all.
CREATE TABLE crawl_calls (
    job_id       BIGINT PRIMARY KEY,
    topic_id     BIGINT NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    runs         BIGINT NOT NULL CHECK (runs >= 0),
    github_calls BIGINT NOT NULL CHECK (github_calls >= 0),
    not_modified BIGINT NOT NULL CHECK (not_modified >= 0),
    probes       BIGINT NOT NULL CHECK (probes >= 0)
);
CREATE INDEX crawl_calls_topic_idx ON crawl_calls (topic_id);
