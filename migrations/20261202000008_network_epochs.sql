-- Network health (SPEC §9), one row per uptime epoch, written in the epoch block's own
-- transaction: the miners' uptime and bonus coverage of that epoch, the skew of the latest
-- weights planned by then (`weights_epoch`), and registration retention at the epoch block.
-- Figures that are not known yet (no weights planned, no cohort old enough) are NULL.
CREATE TABLE network_epochs (
    netuid                 INTEGER          NOT NULL,
    epoch_block            BIGINT           NOT NULL,
    miners                 INTEGER          NOT NULL,
    mean_current_uptime    DOUBLE PRECISION,
    mean_historical_uptime DOUBLE PRECISION,
    bonus_coverage         DOUBLE PRECISION,
    weights_epoch          BIGINT,
    gini                   DOUBLE PRECISION,
    top10_share            DOUBLE PRECISION,
    total_variation        DOUBLE PRECISION,
    largest_gain           DOUBLE PRECISION,
    largest_loss           DOUBLE PRECISION,
    retention_7            DOUBLE PRECISION,
    retention_30           DOUBLE PRECISION,
    retention_90           DOUBLE PRECISION,
    retention_180          DOUBLE PRECISION,
    recorded_at            TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (netuid, epoch_block)
);
