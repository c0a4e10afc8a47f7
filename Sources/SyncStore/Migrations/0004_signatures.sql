-- spsync store, migration 4: origin signatures (Protocol/SPEC.md section 13).
-- Every table is STRICT. Times are ms since the Unix epoch.

-- Which certificate's key signs an origin's changes from which seq on (up to the next binding of
-- the same origin): this node's own bindings and every one it accepted from peers, with how it
-- was anchored in what this node trusts. Rows are never changed, only added.
CREATE TABLE signing_key (
    node_id TEXT NOT NULL,              -- organisation code of the origin
    incarnation BLOB NOT NULL,          -- 16 bytes
    from_seq INTEGER NOT NULL,          -- first seq of the origin this key signs
    certificate BLOB NOT NULL,          -- DER X.509 naming node_id (spsync:node/ SAN), P-256 key
    public_key BLOB NOT NULL,           -- SubjectPublicKeyInfo DER of that key
    signature BLOB NOT NULL,            -- 64 bytes r||s: by this key (from_seq 1) or the one before it
    anchor TEXT NOT NULL CHECK (anchor IN ('own', 'direct', 'pinned', 'ca', 'first_sight')),
    received_from TEXT,                 -- the peer that sent it; NULL for this node's own
    at INTEGER NOT NULL,                -- ms
    PRIMARY KEY (node_id, incarnation, from_seq)
) STRICT;

-- Each change's seal: the digests of all its field writes (sorted, 32 bytes each) and its origin's
-- signature over them. Relaying part of a change needs the digests of the rest; a second, different
-- change under the same (origin, seq) is recognised by it.
CREATE TABLE change_seal (
    origin INTEGER NOT NULL REFERENCES origin (id),
    seq INTEGER NOT NULL,
    hlc INTEGER NOT NULL,               -- the change's HLC stamp
    record INTEGER NOT NULL REFERENCES record (id),
    digests BLOB NOT NULL,              -- 32 bytes per field write of the change, ascending
    signature BLOB NOT NULL,            -- 64 bytes r||s
    PRIMARY KEY (origin, seq)
) STRICT, WITHOUT ROWID;

-- Evidence kept when a signed statement contradicts what this node holds: a key binding claiming a
-- different key for a known origin (key_conflict), or an origin that signed two different changes
-- under one seq (equivocation). Ids, certificates and reasons, never field values.
CREATE TABLE signature_evidence (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('key_conflict', 'equivocation')),
    node_id TEXT NOT NULL,              -- the origin concerned
    incarnation BLOB NOT NULL,          -- 16 bytes
    seq INTEGER NOT NULL,               -- the binding's from_seq, or the change's seq
    certificate BLOB,                   -- the refused binding's certificate (key_conflict)
    detail TEXT NOT NULL,
    received_from TEXT,                 -- the peer that sent it
    at INTEGER NOT NULL                 -- ms
) STRICT;

-- Parked changes keep their seal: they were verified on arrival and are relayed once released.
-- A store of protocol version 1 holds changes without signatures, which no version 2 node accepts:
-- legacy_writes counts them, and such a store is refused when opened (docs/decisions.md).
ALTER TABLE node ADD COLUMN legacy_writes INTEGER NOT NULL DEFAULT 0;
UPDATE node SET legacy_writes = (SELECT count(*) FROM field_write) + (SELECT count(*) FROM parked);
