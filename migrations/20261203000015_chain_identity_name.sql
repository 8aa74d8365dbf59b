-- The network's name as its node calls it (`system_chain`: "Bittensor" on finney), recorded with
-- the genesis hash so that a wrong-chain error can say which networks are involved. NULL for a
-- database whose identity an earlier release recorded.
ALTER TABLE chain_identity ADD COLUMN network TEXT;
