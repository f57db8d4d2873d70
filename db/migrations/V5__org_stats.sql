-- Organisation contributor statistics (issue 15): tracked owners, each
-- repository's statistics state, and first contributions kept incrementally.

-- Owners (organisations or users) whose repositories are synced. The login
-- is what was asked for; owner_id is filled by the first sync, and from
-- then on the owner's repositories are found by id (a renamed owner keeps
-- its rows).
CREATE TABLE tracked_owners (
    login          TEXT PRIMARY KEY CHECK (login ~ '^[a-z0-9][a-z0-9-]{0,38}$'),
    owner_id       BIGINT REFERENCES owners (id),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_synced_at TIMESTAMPTZ
);

-- Where each repository's contributor statistics stand. attempts counts the
-- 202s of the current round (reset by a 200 or 204); body_hash is the
-- SHA-256 of the last 200's statistics, so an unchanged body changes nothing.
CREATE TABLE repository_stats (
    repository_id     BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'computing', 'ready', 'empty', 'unavailable')),
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    body_hash         TEXT,
    -- Commits by authors GitHub maps to no account, counted apart.
    anonymous_commits BIGINT NOT NULL DEFAULT 0 CHECK (anonymous_commits >= 0),
    contributors      INTEGER NOT NULL DEFAULT 0 CHECK (contributors >= 0),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX repository_stats_state_idx ON repository_stats (state);

-- The first week (its Sunday, 00:00 UTC) with commits of each contributor
-- of each repository, over the repository's whole history.
CREATE TABLE contributor_first_week (
    repository_id  BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    contributor_id BIGINT NOT NULL,
    login          TEXT NOT NULL,
    first_week     DATE NOT NULL CHECK (extract(dow FROM first_week) = 0),
    PRIMARY KEY (repository_id, contributor_id)
);

-- First-time contributors per repository and calendar month (the month of
-- the first week's Sunday). Only months whose set changed are rewritten.
CREATE TABLE contributor_first_month (
    repository_id    BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    month            DATE NOT NULL CHECK (extract(day FROM month) = 1),
    new_contributors INTEGER NOT NULL CHECK (new_contributors > 0),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, month)
);
CREATE INDEX contributor_first_month_month_idx ON contributor_first_month (month, repository_id);
