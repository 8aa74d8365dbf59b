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

-- Rows written for every miner at every epoch (or probe round) reference miners by an id the
-- same transaction has just read from `miners`. A foreign key costs a locking index probe per
-- row: half of the insert time of 4,096 rows, and it is the hot path of an epoch block.
ALTER TABLE emissions DROP CONSTRAINT emissions_miner_id_fkey;
ALTER TABLE vesting_tranches DROP CONSTRAINT vesting_tranches_miner_id_fkey;
ALTER TABLE vesting_multipliers DROP CONSTRAINT vesting_multipliers_miner_id_fkey;
ALTER TABLE uptime_samples DROP CONSTRAINT uptime_samples_miner_id_fkey;
ALTER TABLE uptime_multipliers DROP CONSTRAINT uptime_multipliers_miner_id_fkey;
