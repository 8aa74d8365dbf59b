-- The floor of an epoch block's transaction: only the rows every epoch block must store, with
-- the tables' own indexes and constraints, copied from the newest epoch already stored (no
-- computation, no client, nothing read from the chain), then rolled back. Run against the
-- database `bench_epoch` seeded (BENCHMARKS.md, "The floor of the epoch block"):
--
--   psql -X -d tenure_bench_epoch -f scripts/bench-epoch-floor.sql
--
-- Each INSERT prints its time; their sum is the least an epoch block can take on that machine
-- and database while it stores what it stores now.
\set ON_ERROR_STOP on
SELECT max(epoch_block) AS last FROM uptime_multipliers \gset
CREATE TEMP TABLE e  AS SELECT * FROM emissions           WHERE epoch_block = :last;
CREATE TEMP TABLE s  AS SELECT * FROM stakes              WHERE block = :last;
CREATE TEMP TABLE t  AS SELECT * FROM tranches            WHERE block = :last;
CREATE TEMP TABLE vm AS SELECT * FROM vesting_multipliers WHERE epoch_block = :last;
CREATE TEMP TABLE um AS SELECT * FROM uptime_multipliers  WHERE epoch_block = :last;
\timing on
BEGIN;
INSERT INTO emissions
SELECT netuid, epoch_block + 1, uid, miner_id, hotkey, coldkey, amount_rao, validator_permit FROM e;
INSERT INTO stakes SELECT pair_id, block + 1, alpha_rao FROM s;
INSERT INTO tranches (book_id, kind, block, initial_rao, remaining_rao, miner_id)
SELECT book_id, kind, block + 1, initial_rao, remaining_rao, miner_id FROM t;
INSERT INTO vesting_multipliers
SELECT netuid, epoch_block + 1, miner_id, uid, hotkey, coldkey, earned_rao, remaining_rao,
       holding_fraction, holding_days, amount_tier, duration_tier, multiplier, mode, reason FROM vm;
INSERT INTO uptime_multipliers
SELECT netuid, epoch_block + 1, miner_id, uid, hotkey, current_uptime, historical_uptime,
       bonuses, multiplier, mode FROM um;
ROLLBACK;
