-- `missed`: the epoch's submission window passed without our weights on chain. Recorded with the
-- reason, never sent late. Rows of epochs that had no plan at all (the daemon was down, ingestion
-- behind, no fresh scores) have empty vectors.
ALTER TABLE weight_submissions DROP CONSTRAINT weight_submissions_status_check;
ALTER TABLE weight_submissions ADD CONSTRAINT weight_submissions_status_check
    CHECK (status IN ('planned', 'submitted', 'in_block', 'finalized', 'failed', 'missed'));
ALTER TABLE weight_submissions ADD CONSTRAINT weight_submissions_missed_reason
    CHECK (status <> 'missed' OR error IS NOT NULL);
