-- spsync store, migration 5: referral statuses follow the lifecycle table (Protocol/SPEC.md 9.1).
-- The `referral` rows are views of the held writes; this version folds progress events into a
-- status differently, so the rows written by the earlier fold are queued to be derived again.

-- Records whose derived rows (referral or service view) are stale: filled by a migration that
-- changes how a view is derived, and emptied when the store is opened, in the same transaction
-- as the rows it derives again.
CREATE TABLE view_refresh (
    record INTEGER PRIMARY KEY REFERENCES record (id)
) STRICT;
INSERT INTO view_refresh (record) SELECT record FROM referral;
