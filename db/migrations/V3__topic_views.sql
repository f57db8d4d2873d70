-- The read model behind the views: each tracked topic's three views as the
-- crawl last built them (the JSON array, its gzip and brotli encodings, the
-- ETag and the item offsets). Redis caches these; when Redis has lost a view,
-- a replica answers from this row (one primary-key read) instead of sorting
-- the topic's members again. Derived data only: a crawl rewrites it, and a
-- topic without a row is built from the normalized tables.
CREATE TABLE topic_views (
    topic_id  BIGINT      NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    kind      TEXT        NOT NULL CHECK (kind IN ('name', 'popularity', 'activity')),
    etag      TEXT        NOT NULL CHECK (etag <> ''),
    plain     BYTEA       NOT NULL,
    gzip      BYTEA       NOT NULL,
    brotli    BYTEA       NOT NULL,
    -- little-endian u32 byte offsets, one past each item in plain
    ends      BYTEA       NOT NULL,
    built_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic_id, kind)
);

-- The bodies are compressed already, or are read whole on every miss:
-- stored out of line without pglz, so a read decompresses nothing.
ALTER TABLE topic_views
    ALTER COLUMN plain SET STORAGE EXTERNAL,
    ALTER COLUMN gzip SET STORAGE EXTERNAL,
    ALTER COLUMN brotli SET STORAGE EXTERNAL;
