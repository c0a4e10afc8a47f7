-- spsync store, migration 3: how far each peer has acknowledged this node's log, and the full
-- resyncs peers made this node serve (Protocol/SPEC.md 12.16). Times are ms since the Unix epoch.

-- The highest up_to of this node's log (under its own incarnation) a peer incarnation has
-- acknowledged, by ACK or by a PULL's after. A later PULL from 0 means the peer lost its checkpoint.
CREATE TABLE peer_acked (
    peer TEXT NOT NULL,                 -- peer node id
    peer_incarnation BLOB NOT NULL,     -- 16 bytes
    own_incarnation BLOB NOT NULL,      -- 16 bytes
    up_to INTEGER NOT NULL,
    PRIMARY KEY (peer, peer_incarnation, own_incarnation)
) STRICT;

-- Each full resync served: counted against fullResyncsPerPeerPerDayMax over the last 24 hours.
CREATE TABLE full_resync (
    peer TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
CREATE INDEX full_resync_by_peer ON full_resync (peer, at);

-- Batches with up_to = after (visibility only) share their up_to with the batch before them, so a
-- pending decision names its batch (numbered per session) and whether that batch was visibility
-- only: an ACK confirms exactly its batch; a PULL whose after equals such a batch's up_to cannot
-- tell whether it was applied, and the node decides those records afresh (Protocol/SPEC.md 7.3).
ALTER TABLE sent_ledger_pending ADD COLUMN batch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sent_ledger_pending ADD COLUMN visibility_only INTEGER NOT NULL DEFAULT 0 CHECK (visibility_only IN (0, 1));
