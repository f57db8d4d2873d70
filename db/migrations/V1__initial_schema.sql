-- HubPulse, first schema. GitHub ids are the primary keys of GitHub entities:
-- a login or a repository name can change, an id cannot.

CREATE TABLE owners (
    id            BIGINT PRIMARY KEY,
    login         TEXT NOT NULL CHECK (length(login) BETWEEN 1 AND 100),
    kind          TEXT NOT NULL CHECK (kind IN ('User', 'Organization', 'Bot', 'Other')),
    avatar_url    TEXT,
    html_url      TEXT,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Not unique: a login freed by a rename can be taken by another account
-- before we see the rename.
CREATE INDEX owners_login_idx ON owners (lower(login));

CREATE TABLE licenses (
    key     TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    spdx_id TEXT
);

CREATE TABLE repositories (
    id                BIGINT PRIMARY KEY,
    owner_id          BIGINT NOT NULL REFERENCES owners (id),
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    html_url          TEXT NOT NULL,
    description       TEXT,
    homepage          TEXT,
    language          TEXT,
    license_key       TEXT REFERENCES licenses (key),
    stargazers_count  BIGINT NOT NULL DEFAULT 0,
    forks_count       BIGINT NOT NULL DEFAULT 0,
    open_issues_count BIGINT NOT NULL DEFAULT 0,
    watchers_count    BIGINT NOT NULL DEFAULT 0,
    size              BIGINT NOT NULL DEFAULT 0,
    default_branch    TEXT,
    fork              BOOLEAN NOT NULL DEFAULT false,
    archived          BOOLEAN NOT NULL DEFAULT false,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    pushed_at         TIMESTAMPTZ,
    first_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX repositories_owner_idx ON repositories (owner_id);
CREATE INDEX repositories_name_idx ON repositories (lower(name));

CREATE TABLE topics (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,49}$'),
    tracked    BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE repository_topics (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    topic_id      BIGINT NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic_id, repository_id)
);
CREATE INDEX repository_topics_repository_idx ON repository_topics (repository_id);

CREATE TYPE job_status AS ENUM ('queued', 'running', 'succeeded', 'failed', 'rescheduled');

CREATE TABLE jobs (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          JSONB NOT NULL DEFAULT '{}',
    dedup_key        TEXT,
    status           job_status NOT NULL DEFAULT 'queued',
    priority         SMALLINT NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error       TEXT,
    progress_done    BIGINT,
    progress_total   BIGINT,
    result           JSONB,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One live job per dedup key; finished ones do not block a new one.
CREATE UNIQUE INDEX jobs_dedup_live_idx ON jobs (dedup_key)
    WHERE dedup_key IS NOT NULL AND status IN ('queued', 'running', 'rescheduled');
CREATE INDEX jobs_claimable_idx ON jobs (priority DESC, run_at, id)
    WHERE status IN ('queued', 'rescheduled');
CREATE INDEX jobs_running_lease_idx ON jobs (lease_expires_at) WHERE status = 'running';
