-- The ingest writer's memory (the vesting window's running sums and the uptime rollup cache),
-- saved at a graceful stop so that the next start at the same cursor restores it instead of
-- aggregating millions of tranches and rollups again. A snapshot is only ever used at the
-- cursor block and hash it names, under the same settings and format; it is consumed by the
-- next start whether it is used or not. UNLOGGED: after a crash PostgreSQL empties these
-- tables, and the daemon loads from the tables of record as it always could.
CREATE UNLOGGED TABLE engine_snapshots (
    netuid        INTEGER     PRIMARY KEY,
    -- Layout of the rows below; a daemon that writes another layout ignores this one.
    format        INTEGER     NOT NULL,
    scope         TEXT        NOT NULL,
    cursor_block  BIGINT      NOT NULL,
    cursor_hash   BYTEA       NOT NULL,
    -- The vesting window's start the settings gave at the cursor, and the tally's own (it
    -- moves at epoch blocks only).
    window_since  BIGINT      NOT NULL,
    tally_since   BIGINT      NOT NULL,
    horizon_days  BIGINT      NOT NULL,
    horizon_hours BIGINT      NOT NULL,
    -- The last uptime round the cache had read.
    watermark     BIGINT,
    written_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per tranche book of the tally: its sums over the window.
CREATE UNLOGGED TABLE engine_snapshot_books (
    netuid      INTEGER NOT NULL REFERENCES engine_snapshots (netuid) ON DELETE CASCADE,
    coldkey     TEXT    NOT NULL,
    hotkey      TEXT    NOT NULL,
    tranches    BIGINT  NOT NULL CHECK (tranches > 0),
    earned      NUMERIC NOT NULL CHECK (earned >= 0),
    remaining   NUMERIC NOT NULL CHECK (remaining >= 0),
    oldest_held BIGINT,
    stale       BOOLEAN NOT NULL
);
CREATE INDEX engine_snapshot_books_netuid ON engine_snapshot_books (netuid);

-- One row per miner of the rollup cache: its days and hours in index order, 16 bytes a period
-- (index i64, rounds u32, up u32, little-endian). Stored uncompressed: the bytes are dense
-- numbers, and compressing 80 MB at a stop costs more than it saves.
CREATE UNLOGGED TABLE engine_snapshot_rollups (
    netuid   INTEGER NOT NULL REFERENCES engine_snapshots (netuid) ON DELETE CASCADE,
    miner_id BIGINT  NOT NULL,
    days     BYTEA   NOT NULL CHECK (length(days) % 16 = 0),
    hours    BYTEA   NOT NULL CHECK (length(hours) % 16 = 0)
);
ALTER TABLE engine_snapshot_rollups ALTER COLUMN days SET STORAGE EXTERNAL;
ALTER TABLE engine_snapshot_rollups ALTER COLUMN hours SET STORAGE EXTERNAL;
CREATE INDEX engine_snapshot_rollups_netuid ON engine_snapshot_rollups (netuid);
