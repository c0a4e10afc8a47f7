-- spsync store, migration 2: what the sync protocol keeps beside the change log.
-- Every table is STRICT. Times are ms since the Unix epoch.

-- Visibility decisions sent to a peer incarnation in batches it has not acknowledged yet. On ACK
-- (or a later PULL whose checkpoint covers up_to) a row moves into sent_ledger (sent = 1 adds the
-- class, sent = 0 removes it); rows of batches the peer never applied are dropped on its next PULL.
-- So sent_ledger says exactly what the peer has applied, whatever connection broke when.
CREATE TABLE sent_ledger_pending (
    peer TEXT NOT NULL,                 -- peer node id
    peer_incarnation BLOB NOT NULL,     -- 16 bytes
    up_to INTEGER NOT NULL,             -- this node's local seq the carrying batch ends at
    record INTEGER NOT NULL REFERENCES record (id),
    class TEXT NOT NULL,                -- data class
    sent INTEGER NOT NULL CHECK (sent IN (0, 1)),  -- 1 WIDEN (class sent), 0 NARROW (class withdrawn)
    PRIMARY KEY (peer, peer_incarnation, up_to, record, class)
) STRICT;

-- Pairs of (peer incarnation, own incarnation) for which this node has listed to the peer the
-- records it holds through it (HOLDING) and pulled to the end: the peer's ledger knows this node.
CREATE TABLE holding_sent (
    peer TEXT NOT NULL,
    peer_incarnation BLOB NOT NULL,     -- 16 bytes
    own_incarnation BLOB NOT NULL,      -- 16 bytes
    at INTEGER NOT NULL,                -- ms
    PRIMARY KEY (peer, peer_incarnation, own_incarnation)
) STRICT;

-- Classes of records purged here on NARROW: other origins' writes are gone, this node's own stay.
CREATE TABLE tombstone (
    record INTEGER NOT NULL REFERENCES record (id),
    class TEXT NOT NULL,                -- data class
    peer TEXT NOT NULL,                 -- the peer whose NARROW caused it
    cause INTEGER NOT NULL,             -- NarrowCause number of Protocol/spsync.proto
    purged_at INTEGER NOT NULL,         -- ms
    PRIMARY KEY (record, class)
) STRICT;
CREATE INDEX field_write_by_sender ON field_write (received_from, record);
