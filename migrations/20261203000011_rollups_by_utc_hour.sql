-- Rollups are keyed by the UTC hour and day of their round's block timestamp (hours and days
-- since the Unix epoch), no longer by chain hours and days (block / blocks per hour or day):
-- time windows (peak hours, weekends, holidays) follow the chain's clock. Existing rows are
-- re-keyed by the time of their first round (`started_at`: the block's timestamp for API rounds,
-- the daemon's clock for probe rounds of earlier releases); rows falling in the same UTC hour or
-- day are merged. `started_at` becomes the start of that hour or day.

CREATE TEMP TABLE rekeyed_hourly AS
SELECT netuid, miner_id, floor(extract(epoch FROM started_at) / 3600)::bigint AS hour,
       sum(rounds)::int AS rounds, sum(up)::int AS up
  FROM uptime_hourly GROUP BY 1, 2, 3;
DELETE FROM uptime_hourly;
INSERT INTO uptime_hourly (netuid, miner_id, hour, started_at, rounds, up)
SELECT netuid, miner_id, hour, to_timestamp(hour * 3600), rounds, up FROM rekeyed_hourly;
DROP TABLE rekeyed_hourly;

CREATE TEMP TABLE rekeyed_daily AS
SELECT netuid, miner_id, floor(extract(epoch FROM started_at) / 86400)::bigint AS day,
       sum(rounds)::int AS rounds, sum(up)::int AS up
  FROM uptime_daily GROUP BY 1, 2, 3;
DELETE FROM uptime_daily;
INSERT INTO uptime_daily (netuid, miner_id, day, started_at, rounds, up)
SELECT netuid, miner_id, day, to_timestamp(day * 86400), rounds, up FROM rekeyed_daily;
DROP TABLE rekeyed_daily;
