-- Blocks this database's history skips: `tenure ingest reanchor` continued from the finalized
-- head when the node could no longer serve the state of the blocks after the cursor (a pruning
-- node, no archive). Nothing from_block..=to_block was ingested: uptime there is unknown, and
-- the stake held at the reanchor block was re-read whole (changes became manual tranches).
-- Explicit and audited: who, when and why.
CREATE TABLE ingest_gaps (
    netuid      INTEGER     NOT NULL,
    from_block  BIGINT      NOT NULL,
    to_block    BIGINT      NOT NULL,
    -- The block the history continues from (to_block + 1), read as a snapshot.
    anchor_hash BYTEA       NOT NULL CHECK (length(anchor_hash) = 32),
    actor       TEXT        NOT NULL,
    reason      TEXT        NOT NULL CHECK (length(reason) > 0),
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (netuid, from_block),
    CHECK (to_block >= from_block)
);
