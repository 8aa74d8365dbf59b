-- The chain this database follows: its genesis hash, recorded at the first start. A node
-- serving another chain (another network, a devnet) stops the daemon before anything is written.
CREATE TABLE chain_identity (
    singleton    BOOLEAN     PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    genesis_hash BYTEA       NOT NULL CHECK (length(genesis_hash) = 32),
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
