-- What the conditional list walker remembers of every GitHub page it has
-- read, for any list endpoint (it generalises crawl_pages, which only the
-- topic search had). GitHub's ETags vary with the URL, the Accept media type
-- and the token (`Vary: Accept, Authorization`), so a page is keyed by all
-- three; `credential` is the token's short id, never the token. On a 304 the
-- walker hands back the ids, total and next URL stored here, at no quota.
-- Cache-like: a lost row only costs one full fetch of its page.
CREATE TABLE github_pages (
    credential  TEXT        NOT NULL,
    media_type  TEXT        NOT NULL,
    url         TEXT        NOT NULL,
    etag        TEXT        NOT NULL CHECK (etag <> ''),
    -- The ids the page yielded, in its order (none for a probe).
    ids         BIGINT[]    NOT NULL DEFAULT '{}',
    -- The list's size as the page reported it (search's total_count).
    total_count BIGINT      CHECK (total_count >= 0),
    -- Its Link next URL, so an unchanged page can continue the walk.
    next_url    TEXT,
    fetched_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (credential, media_type, url)
);

-- Every search page and probe the topic crawl stored carries over, so the
-- first crawl after the upgrade still revalidates instead of spending quota.
-- Probes stored no next URL: theirs stays empty, which only their count uses.
INSERT INTO github_pages (credential, media_type, url, etag, ids, total_count, next_url, fetched_at)
SELECT token_id, 'application/vnd.github+json', url, etag, repository_ids, total_count,
       next_url, fetched_at
FROM crawl_pages
WHERE etag <> '';

DROP TABLE crawl_pages;
