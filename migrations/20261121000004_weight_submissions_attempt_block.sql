-- The finalized head an attempt was signed at: its mortality (and so the moment it provably can
-- no longer land) counts from there.
ALTER TABLE weight_submissions ADD COLUMN submitted_block BIGINT;
