-- One row per epoch the uptime engine saw: the mode in force (a mode-off epoch has no per-miner
-- rows, and this row says why), what it was computed with, and how long it took.
CREATE TABLE uptime_epochs (
    netuid      INTEGER          NOT NULL,
    epoch_block BIGINT           NOT NULL,
    mode        TEXT             NOT NULL CHECK (mode IN ('on', 'shadow', 'off')),
    miners      INTEGER          NOT NULL DEFAULT 0,
    boosted     INTEGER          NOT NULL DEFAULT 0,
    params      JSONB            NOT NULL,
    compute_ms  DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (netuid, epoch_block)
);

-- The per-miner detail is written for every miner at every epoch and read back whole: JSON
-- (kept as text) costs far less to write than JSONB's binary form.
ALTER TABLE uptime_multipliers ALTER COLUMN bonuses TYPE JSON;
