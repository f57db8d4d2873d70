-- Each topic's membership count, kept by the writes that change it, so
-- GET /v1/topics (public) reads one column per topic instead of counting
-- repository_topics on every call (issue 12, item 5). Statement-level
-- triggers with transition tables: one UPDATE per statement of a crawl's
-- page, in that page's transaction, whoever writes the memberships (crawl
-- pages, 304 reuse, prunes, a repository's or topic's cascading delete).
ALTER TABLE topics ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0
    CHECK (member_count >= 0);

UPDATE topics t SET member_count =
    (SELECT count(*) FROM repository_topics rt WHERE rt.topic_id = t.id);

CREATE FUNCTION topic_member_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE topics SET member_count = 0 WHERE member_count <> 0;
        RETURN NULL;
    END IF;
    -- The topics' rows are locked in id order first: two statements that
    -- touch several topics (a repository's cascading delete) cannot
    -- deadlock on each other's counts.
    IF TG_OP = 'INSERT' THEN
        PERFORM 1 FROM topics WHERE id IN (SELECT topic_id FROM changed_rows)
            ORDER BY id FOR NO KEY UPDATE;
        UPDATE topics t SET member_count = t.member_count + c.n
        FROM (SELECT topic_id, count(*) AS n FROM changed_rows GROUP BY topic_id) c
        WHERE t.id = c.topic_id;
    ELSE
        PERFORM 1 FROM topics WHERE id IN (SELECT topic_id FROM changed_rows)
            ORDER BY id FOR NO KEY UPDATE;
        UPDATE topics t SET member_count = t.member_count - c.n
        FROM (SELECT topic_id, count(*) AS n FROM changed_rows GROUP BY topic_id) c
        WHERE t.id = c.topic_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER repository_topics_count_inserts
    AFTER INSERT ON repository_topics
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION topic_member_counts_apply();

CREATE TRIGGER repository_topics_count_deletes
    AFTER DELETE ON repository_topics
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION topic_member_counts_apply();

CREATE TRIGGER repository_topics_count_truncates
    AFTER TRUNCATE ON repository_topics
    FOR EACH STATEMENT EXECUTE FUNCTION topic_member_counts_apply();

-- A membership never moves between topics (rows are inserted and deleted,
-- never updated); refuse an UPDATE of the key rather than miscount.
CREATE FUNCTION repository_topics_no_key_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'repository_topics rows are inserted and deleted, not moved';
END
$$;

CREATE TRIGGER repository_topics_key_fixed
    BEFORE UPDATE OF topic_id, repository_id ON repository_topics
    FOR EACH ROW EXECUTE FUNCTION repository_topics_no_key_update();
