-- One row per epoch the vesting engine saw: the mode in force (a mode-off epoch has no
-- per-miner rows, and this row says why), what it was computed with, and how long it took.
CREATE TABLE vesting_epochs (
    netuid      INTEGER          NOT NULL,
    epoch_block BIGINT           NOT NULL,
    mode        TEXT             NOT NULL CHECK (mode IN ('on', 'shadow', 'off')),
    miners      INTEGER          NOT NULL DEFAULT 0,
    -- Miners whose multiplier is above 1.
    boosted     INTEGER          NOT NULL DEFAULT 0,
    -- The vesting configuration (tiers, cap, combine, window, scope) the epoch used.
    params      JSONB            NOT NULL,
    compute_ms  DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (netuid, epoch_block)
);

-- Loading the lookback window of emission tranches at start-up.
CREATE INDEX vesting_tranches_emission_window ON vesting_tranches (netuid, scope, block)
    WHERE kind = 'emission';
