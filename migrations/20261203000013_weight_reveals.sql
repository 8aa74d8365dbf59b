-- Commit-reveal ends at the reveal. `TimelockedWeightsRevealed` events of the subnet, recorded by
-- ingestion in the block's own transaction; for the validator's own hotkey also the `Weights`
-- row the chain stored in that block, so the weights task can check it equals the commit u16
-- for u16 without reading old state from the node.
CREATE TABLE weight_reveals (
    netuid       INTEGER NOT NULL,
    block        BIGINT  NOT NULL,
    -- NetUidStorageIndex: mechid * 4096 + netuid.
    netuid_index INTEGER NOT NULL,
    hotkey       TEXT    NOT NULL,
    -- The revealing hotkey's `Weights[(netuid_index, uid)]` after the block; NULL for others.
    uids         INTEGER[],
    weights      INTEGER[],
    PRIMARY KEY (netuid, block, netuid_index, hotkey),
    CHECK ((uids IS NULL) = (weights IS NULL))
);
CREATE INDEX weight_reveals_hotkey ON weight_reveals (netuid, hotkey, block);

-- `revealed`: the chain revealed the commit and stored exactly the committed weights.
-- `reveal_missed`: the reveal epoch passed without that (the reason says what was seen).
ALTER TABLE weight_submissions DROP CONSTRAINT weight_submissions_status_check;
ALTER TABLE weight_submissions ADD CONSTRAINT weight_submissions_status_check
    CHECK (status IN ('planned', 'submitted', 'in_block', 'finalized', 'failed', 'missed',
                      'revealed', 'reveal_missed'));
ALTER TABLE weight_submissions ADD CONSTRAINT weight_submissions_reveal_missed_reason
    CHECK (status <> 'reveal_missed' OR error IS NOT NULL);
ALTER TABLE weight_submissions ADD COLUMN revealed_block BIGINT;
