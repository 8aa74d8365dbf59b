-- What `tenure replay` needs to recompute a recorded epoch exactly.

-- The ingest cursor when the round was written (read under a share lock on the cursor row, so
-- it is ordered with the block transactions): the uptime epoch at block E counted this round
-- exactly when cursor_block < E. A round written for an earlier hour after an epoch had read
-- that hour (a late round) is taken back out when that epoch is replayed. NULL: written before
-- this column existed, or before the first block was ingested.
ALTER TABLE uptime_rounds ADD COLUMN cursor_block BIGINT;
CREATE INDEX uptime_rounds_late ON uptime_rounds (netuid, cursor_block, block);

-- The chain's weight limits the plan was converted under (NULL before this column existed).
ALTER TABLE weight_submissions ADD COLUMN min_allowed_weights INTEGER;
ALTER TABLE weight_submissions ADD COLUMN max_weights_limit INTEGER;
