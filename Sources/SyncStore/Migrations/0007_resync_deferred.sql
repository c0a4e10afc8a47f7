-- spsync store, migration 7: records a peer listed in HOLDING that this node did not hold then
-- (Protocol/SPEC.md, HOLDING; docs/decisions.md 44). Nothing is said of them at once: narrowing
-- them would make the lister purge what may be the last copies of this node's own writes lost
-- to a restore. They are decided as listed records when their writes first reach this node, and
-- the row goes when that decision joins the sent ledger.
CREATE TABLE resync_deferred (
    peer TEXT NOT NULL,                 -- the lister
    peer_incarnation BLOB NOT NULL,     -- 16 bytes
    record_key TEXT NOT NULL,           -- the record's id (it may have no row in `record` yet)
    PRIMARY KEY (peer, peer_incarnation, record_key)
) STRICT;
