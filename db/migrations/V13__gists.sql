-- Gist tracking to Pipedrive (issue 14): tracked GitHub users keyed by
-- their id, their gists and gist files with HubPulse's own first-seen time,
-- a transactional outbox of Pipedrive work, and named subscribers' visits.

-- A tracked GitHub user. scan_window/scan_job: the scan window this user
-- was last claimed for and the job that holds it (one scan per user per
-- window, whatever the replicas). since_at is the `since` the scans send
-- (null: the whole list); it moves only when the list outgrows one page,
-- so an unchanged list keeps its URL and revalidates for free.
CREATE TABLE tracked_users (
    github_id         BIGINT PRIMARY KEY,
    login             TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    untracked_at      TIMESTAMPTZ,
    scan_window       BIGINT,
    scan_job          BIGINT,
    since_at          TIMESTAMPTZ,
    last_scan_at      TIMESTAMPTZ,
    last_full_scan_at TIMESTAMPTZ,
    -- The user's Pipedrive deal: deal_attempted_at is set before the POST,
    -- deal_id after it; attempted without an id means "look before posting".
    deal_id           BIGINT,
    deal_attempted_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX tracked_users_login_idx ON tracked_users (lower(login)) WHERE untracked_at IS NULL;

CREATE TABLE gists (
    id            TEXT PRIMARY KEY,
    owner_id      BIGINT NOT NULL REFERENCES tracked_users (github_id),
    html_url      TEXT NOT NULL,
    description   TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    gone_at       TIMESTAMPTZ
);
CREATE INDEX gists_owner_idx ON gists (owner_id);

-- A gist file is (gist id, file name): a rename is one gone and one new.
-- seq orders files as HubPulse first saw them; inserts for one owner are
-- serialised (an advisory lock), so a reader never sees a later seq
-- commit before an earlier one: seq is the visits' cursor.
CREATE TABLE gist_files (
    gist_id       TEXT NOT NULL REFERENCES gists (id),
    filename      TEXT NOT NULL,
    seq           BIGSERIAL NOT NULL UNIQUE,
    owner_id      BIGINT NOT NULL,
    language      TEXT,
    size          BIGINT,
    raw_url       TEXT,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    gone_at       TIMESTAMPTZ,
    -- The Pipedrive activity, once delivery knows its id.
    activity_id   BIGINT,
    delivered_at  TIMESTAMPTZ,
    PRIMARY KEY (gist_id, filename)
);
CREATE INDEX gist_files_owner_seq_idx ON gist_files (owner_id, seq);
CREATE INDEX gist_files_owner_seen_idx ON gist_files (owner_id, first_seen_at);

-- Pipedrive work still to do, written in the transaction that inserts the
-- file. attempted_at is set before each POST; a row attempted and still
-- here has an unknown outcome, so delivery looks for its marker first.
-- Delivered rows are deleted (the id moves to gist_files); parked rows
-- stay with their reason.
CREATE TABLE gist_outbox (
    id              BIGSERIAL PRIMARY KEY,
    gist_id         TEXT NOT NULL,
    filename        TEXT NOT NULL,
    owner_id        BIGINT NOT NULL,
    parked          BOOLEAN NOT NULL DEFAULT false,
    attempts        INTEGER NOT NULL DEFAULT 0,
    attempted_at    TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (gist_id, filename),
    FOREIGN KEY (gist_id, filename) REFERENCES gist_files (gist_id, filename)
);
CREATE INDEX gist_outbox_due_idx ON gist_outbox (owner_id, next_attempt_at) WHERE NOT parked;

-- A named subscriber's last visit to a tracked user's gists.
CREATE TABLE gist_visits (
    owner_id   BIGINT NOT NULL REFERENCES tracked_users (github_id),
    subscriber TEXT NOT NULL,
    cursor_seq BIGINT NOT NULL DEFAULT 0,
    visited_at TIMESTAMPTZ,
    PRIMARY KEY (owner_id, subscriber)
);
