-- Network health: miner-hours down on the last complete chain day before the epoch, and the
-- least-squares slope of that daily downtime over the last 30 complete days (miner-hours per
-- day). NULL when nothing is known.
ALTER TABLE network_epochs ADD COLUMN downtime_hours DOUBLE PRECISION;
ALTER TABLE network_epochs ADD COLUMN downtime_trend DOUBLE PRECISION;
