-- Signing in with GitHub (device flow), the user tokens kept for their own
-- crawls, browser sessions, and which signed-in user may see which private
-- repository. Secrets are never stored as written: tokens and device codes
-- as AES-256-GCM ciphertext with the id of the key that sealed them (keys
-- rotate), session ids and a flow's browser binding as SHA-256 digests.

-- GitHub accounts that signed in; the id is GitHub's, the login may change.
CREATE TABLE github_users (
    id         BIGINT PRIMARY KEY,
    login      TEXT NOT NULL CHECK (length(login) BETWEEN 1 AND 100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX github_users_login_idx ON github_users (lower(login));

-- One token per user: a new sign-in replaces the old one.
CREATE TABLE user_tokens (
    user_id            BIGINT PRIMARY KEY REFERENCES github_users (id) ON DELETE CASCADE,
    key_id             TEXT NOT NULL,
    token_sealed       BYTEA NOT NULL,
    -- The short SHA-256 id the rate budget and stored pages know it by.
    token_id           TEXT NOT NULL,
    refresh_sealed     BYTEA,
    expires_at         TIMESTAMPTZ,
    refresh_expires_at TIMESTAMPTZ,
    scopes             TEXT NOT NULL DEFAULT '',
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE user_sessions (
    id_digest  BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES github_users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

-- A device flow started from a browser: polled by a job, read by the page.
CREATE TABLE device_flows (
    id                UUID PRIMARY KEY,
    -- SHA-256 of the flow cookie: only the browser that started the flow
    -- may turn its success into a session.
    browser_digest    BYTEA NOT NULL,
    key_id            TEXT NOT NULL,
    device_code_sealed BYTEA NOT NULL,
    user_code         TEXT NOT NULL,
    verification_uri  TEXT NOT NULL,
    interval_secs     INTEGER NOT NULL CHECK (interval_secs >= 1),
    expires_at        TIMESTAMPTZ NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'signed_in', 'failed')),
    error             TEXT,
    message           TEXT,
    user_id           BIGINT REFERENCES github_users (id) ON DELETE SET NULL,
    polls             INTEGER NOT NULL DEFAULT 0,
    session_opened    BOOLEAN NOT NULL DEFAULT false,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The rate limit on starting flows counts the last hour's.
CREATE INDEX device_flows_created_idx ON device_flows (created_at);

-- What a repository's own listing said about its visibility; a repository
-- without a row here was only ever seen in public lists.
CREATE TABLE repository_visibility (
    repository_id BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    private       BOOLEAN NOT NULL,
    visibility    TEXT,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The repositories a signed-in user's `/user/repos` lists: who may see
-- which private repository, and what that user's export holds.
CREATE TABLE user_repositories (
    user_id       BIGINT NOT NULL REFERENCES github_users (id) ON DELETE CASCADE,
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    seen_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, repository_id)
);
CREATE INDEX user_repositories_repository_idx ON user_repositories (repository_id);
