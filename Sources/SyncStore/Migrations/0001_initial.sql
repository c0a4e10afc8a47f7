-- spsync store, migration 1: the initial schema.
-- Every table is STRICT. Times are ms since the Unix epoch; HLC stamps are 48-bit ms << 16 | 16-bit counter.

-- This node: exactly one row. Seq and HLC are allocated from it inside BEGIN IMMEDIATE, so the
-- CLI and the daemon can both write.
CREATE TABLE node (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    node_id TEXT NOT NULL,              -- organisation code, e.g. A81001
    incarnation BLOB NOT NULL,          -- 16 bytes: this store's current life (new on restore)
    last_seq INTEGER NOT NULL,          -- highest seq issued in this incarnation
    hlc INTEGER NOT NULL,               -- highest HLC issued or observed
    rolled_back_at INTEGER,             -- ms; set when a peer proved this store was restored from an older backup
    created_at INTEGER NOT NULL         -- ms
) STRICT;

-- Origins of changes, (node, incarnation), interned to keep the change log compact.
CREATE TABLE origin (
    id INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL,              -- organisation code
    incarnation BLOB NOT NULL,          -- 16 bytes
    UNIQUE (node_id, incarnation)
) STRICT;

-- Records known here, with the facts their ids carry (who owns a service; a referral's practice and PCN).
CREATE TABLE record (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,           -- the record id: A81001, S.<owner>.<uuid>, R.<practice>.<pcn>.<uuid>
    kind TEXT NOT NULL CHECK (kind IN ('organisation', 'service', 'referral')),
    owner TEXT,                         -- organisation or service owner
    practice TEXT,                      -- referral's practice
    pcn TEXT                            -- referral's PCN hub
) STRICT;

-- The change log and the field-write state in one: one row per field-write arrival. local_seq is
-- the arrival order peers pull after; AUTOINCREMENT so a purged row's number is never reused.
-- body holds the write's wire bytes as received, so unknown fields survive relaying.
CREATE TABLE field_write (
    local_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    origin INTEGER NOT NULL REFERENCES origin (id),
    seq INTEGER NOT NULL,               -- the change's seq within its origin
    hlc INTEGER NOT NULL,               -- the change's HLC stamp
    record INTEGER NOT NULL REFERENCES record (id),
    field TEXT NOT NULL,                -- class.name, e.g. contact.phone
    kind INTEGER NOT NULL CHECK (kind IN (0, 1)),  -- 0 register, 1 grow-only set
    value BLOB,                         -- the value; NULL once redacted
    body BLOB NOT NULL,                 -- wire bytes (message FieldWrite); re-encoded without value on redaction
    live INTEGER NOT NULL CHECK (live IN (0, 1)),   -- 1 when no known write replaces it or a redaction kills it
    winner INTEGER NOT NULL CHECK (winner IN (0, 1)), -- 1 for a register's winning write
    received_from TEXT,                 -- peer node id it came from; NULL for local writes
    arrived_at INTEGER NOT NULL,        -- ms
    UNIQUE (origin, seq, field)
) STRICT;
CREATE INDEX field_write_by_field ON field_write (record, field);

-- Typed view of referrals for queries, refreshed from the winners whenever a referral changes.
CREATE TABLE referral (
    record INTEGER PRIMARY KEY REFERENCES record (id),
    key TEXT NOT NULL UNIQUE,
    practice TEXT NOT NULL,
    pcn TEXT NOT NULL,
    addressed_to TEXT NOT NULL,         -- the target service's owner, else the PCN
    service TEXT,                       -- current target service id
    status TEXT NOT NULL,               -- the status fold's result
    needs TEXT,                         -- JSON array of need categories
    urgency TEXT,
    updated_hlc INTEGER NOT NULL        -- highest HLC among its writes
) STRICT;
CREATE INDEX referral_by_status ON referral (status);

-- Typed view of services (the directory), refreshed from the winners.
CREATE TABLE service (
    record INTEGER PRIMARY KEY REFERENCES record (id),
    key TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    name TEXT,
    category TEXT,
    accepting TEXT,
    capacity_unit TEXT,
    capacity_available INTEGER,
    capacity_maximum INTEGER,
    capacity_updated INTEGER,           -- ms, when the owner set the figures
    capacity_valid_until INTEGER,       -- ms; after it readers show the capacity as stale
    wait_days INTEGER,                  -- days
    updated_hlc INTEGER NOT NULL
) STRICT;

-- Fields whose writes conflict (several live values), and referrals whose episode has
-- contradictory decisions; both wait for a person (spsync conflicts).
CREATE TABLE conflict (
    record INTEGER NOT NULL REFERENCES record (id),
    field TEXT NOT NULL,                -- the register, or progress.events for a status conflict
    live_count INTEGER NOT NULL,        -- how many live values or contradictory events
    PRIMARY KEY (record, field)
) STRICT;

-- How far this node has pulled from each peer, per incarnation of that peer.
CREATE TABLE peer_checkpoint (
    peer TEXT NOT NULL,                 -- peer node id
    peer_incarnation BLOB NOT NULL,     -- 16 bytes
    after_local_seq INTEGER NOT NULL,   -- the peer's local seq applied up to
    updated_at INTEGER NOT NULL,        -- ms
    PRIMARY KEY (peer, peer_incarnation)
) STRICT;

-- Which classes of which records this node has sent each peer incarnation (for WIDEN/NARROW).
CREATE TABLE sent_ledger (
    peer TEXT NOT NULL,
    peer_incarnation BLOB NOT NULL,     -- 16 bytes
    record INTEGER NOT NULL REFERENCES record (id),
    class TEXT NOT NULL,                -- data class
    PRIMARY KEY (peer, peer_incarnation, record, class)
) STRICT;

-- Writes stamped too far ahead of local time: held, not applied or relayed, until time catches up.
CREATE TABLE parked (
    id INTEGER PRIMARY KEY,
    origin_node TEXT NOT NULL,
    origin_incarnation BLOB NOT NULL,   -- 16 bytes
    seq INTEGER NOT NULL,
    hlc INTEGER NOT NULL,
    record_key TEXT NOT NULL,
    body BLOB NOT NULL,                 -- wire bytes
    received_from TEXT,
    parked_at INTEGER NOT NULL,         -- ms
    UNIQUE (origin_node, origin_incarnation, seq, body)
) STRICT;

-- Writes that could not be applied for a reason that will not pass; the stream moved on.
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    origin_node TEXT NOT NULL,
    origin_incarnation BLOB NOT NULL,
    seq INTEGER NOT NULL,
    record_key TEXT NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL,
    received_from TEXT,
    at INTEGER NOT NULL                 -- ms
) STRICT;

-- Append-only audit log: who changed what, which peer sent what, what was refused.
-- Ids and stamps only, never field values.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,                -- ms
    action TEXT NOT NULL,               -- local_write, received, refused, parked, quarantined, redacted, purged, restored
    actor TEXT,                         -- who: operator user or peer node id
    origin TEXT,                        -- origin node of the write
    seq INTEGER,
    record TEXT,
    field TEXT,
    code TEXT                           -- refusal code, no values
) STRICT;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
