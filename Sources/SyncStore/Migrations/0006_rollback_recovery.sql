-- spsync store, migration 6: what `spsync recover` needs to carry the changes made after a store
-- was put back to an older copy into a new incarnation (docs/decisions.md, "Rollbacks nobody
-- announced").

-- The highest seq of this node's own current incarnation known to be common to the older copy and
-- the changes peers hold: own changes above it were made after the store was put back, reusing
-- seqs, and `spsync recover` carries them. Set with rolled_back_at; NULL when not rolled back.
ALTER TABLE node ADD COLUMN rollback_seq INTEGER;
-- The HLC of the change a peer proved the rollback with (one the store had lost): own changes
-- stamped before it were made before the store was put back. NULL when the rollback was found
-- at open, from the high-water mark (rollback_seq is then exact).
ALTER TABLE node ADD COLUMN rollback_hlc INTEGER;
