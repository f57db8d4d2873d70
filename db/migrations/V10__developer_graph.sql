-- The developer graph (issue 13): developers keyed by GitHub id, their
-- login history, follow edges, stars with starred_at, weekly star history,
-- and each repository's stargazer state. Repositories and their owners are
-- the shared tables of V1 (written only through repositories::upsert).

-- Every account the graph has met: from a list ("known", a simple user
-- without profile) or synced (its profile read). login_current is false
-- when another account was seen holding this login since: a stale login
-- left behind by a rename we have not seen yet, refreshed by /user/{id} on
-- the account's next sync. Gone: suspended or deleted, 404 by id too.
CREATE TABLE developers (
    id               BIGINT PRIMARY KEY,
    login            TEXT NOT NULL CHECK (length(login) BETWEEN 1 AND 100),
    login_current    BOOLEAN NOT NULL DEFAULT true,
    kind             TEXT NOT NULL DEFAULT 'User'
                     CHECK (kind IN ('User', 'Organization', 'Bot', 'Other')),
    avatar_url       TEXT,
    html_url         TEXT,
    name             TEXT,
    company          TEXT,
    blog             TEXT,
    location         TEXT,
    bio              TEXT,
    hireable         BOOLEAN,
    twitter_username TEXT,
    public_repos     INTEGER CHECK (public_repos >= 0),
    public_gists     INTEGER CHECK (public_gists >= 0),
    followers        INTEGER CHECK (followers >= 0),
    following        INTEGER CHECK (following >= 0),
    created_at       TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ,
    state            TEXT NOT NULL DEFAULT 'known' CHECK (state IN ('known', 'synced', 'gone')),
    -- Follow steps from the nearest seed (0 for a seed).
    depth            INTEGER NOT NULL DEFAULT 0 CHECK (depth >= 0),
    profile_etag     TEXT,
    synced_at        TIMESTAMPTZ,
    -- When discovery last queued its sync: not queued again while it waits.
    queued_at        TIMESTAMPTZ,
    -- Lists cut at the edge cap on the last sync (followers, following, ...).
    truncated        TEXT[] NOT NULL DEFAULT '{}',
    first_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX developers_login_idx ON developers (lower(login)) WHERE login_current;
-- The frontier: never synced first, then the stalest.
CREATE INDEX developers_frontier_idx ON developers (synced_at NULLS FIRST, id) WHERE state <> 'gone';
-- One per list order (keyset: the order's value, then id).
-- The expressions are exactly the lists' (graph_lists::Order), nulls
-- (known developers without a profile yet) last in the default orders.
CREATE INDEX developers_followers_idx ON developers (COALESCE(followers, -1), id);
CREATE INDEX developers_created_idx ON developers (COALESCE(created_at, '-infinity'::timestamptz), id);
CREATE INDEX developers_login_order_idx ON developers (lower(login), id);
CREATE INDEX developers_repos_idx ON developers (COALESCE(public_repos, -1), id);

CREATE TABLE developer_logins (
    developer_id  BIGINT NOT NULL REFERENCES developers (id) ON DELETE CASCADE,
    login         TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX developer_logins_idx ON developer_logins (developer_id, lower(login));
CREATE INDEX developer_logins_login_idx ON developer_logins (lower(login));

CREATE TABLE follows (
    follower_id   BIGINT NOT NULL REFERENCES developers (id) ON DELETE CASCADE,
    followee_id   BIGINT NOT NULL REFERENCES developers (id) ON DELETE CASCADE,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee_idx ON follows (followee_id, follower_id);

CREATE TABLE stars (
    developer_id  BIGINT NOT NULL REFERENCES developers (id) ON DELETE CASCADE,
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    starred_at    TIMESTAMPTZ,
    PRIMARY KEY (developer_id, repository_id)
);
CREATE INDEX stars_repository_idx ON stars (repository_id, developer_id);

-- GitHub's weekly star history: stars still held, by the week acquired.
CREATE TABLE star_history (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    week          TIMESTAMPTZ NOT NULL,
    total         BIGINT NOT NULL CHECK (total >= 0),
    days          BIGINT[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (repository_id, week)
);

-- What sync_repository learnt of a repository. 'restricted': GitHub refused
-- its stargazer list (401, 403, 404 or [] with stars), never asked again.
CREATE TABLE repository_graph (
    repository_id     BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    stargazers        TEXT NOT NULL DEFAULT 'unknown'
                      CHECK (stargazers IN ('unknown', 'listed', 'restricted')),
    refused_status    INTEGER,
    former_names      TEXT[] NOT NULL DEFAULT '{}',
    synced_at         TIMESTAMPTZ
);

-- List orders of repositories (the shared table): stars, created, name.
CREATE INDEX repositories_stars_idx ON repositories (stargazers_count, id);
CREATE INDEX repositories_created_idx ON repositories (created_at, id);
CREATE INDEX repositories_name_order_idx ON repositories (lower(name), id);

-- Repositories as the graph's lists read them: with the owner's login and
-- the stargazer state. A plain view: the lists' orders use the
-- repositories indexes above.
CREATE VIEW repositories_view AS
SELECT r.*, o.login AS owner_login, COALESCE(g.stargazers, 'unknown') AS stargazers
FROM repositories r
JOIN owners o ON o.id = r.owner_id
LEFT JOIN repository_graph g ON g.repository_id = r.id;
