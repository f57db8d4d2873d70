-- A crawl that would drop a large share of a topic's memberships at once
-- (one short or empty answer from GitHub) does not prune; it records how
-- many it would have dropped here, and the next complete crawl that agrees
-- (it too would drop beyond the threshold) prunes. NULL: nothing held.
ALTER TABLE topics ADD COLUMN held_drop BIGINT CHECK (held_drop > 0);
