//! Per-block ingestion of finalized blocks: miners, owners, held stake, emissions and the vesting
//! tranche book, written in one database transaction per block together with the cursor, so
//! that re-processing a block changes nothing and a restart resumes where it stopped.
//!
//! The block loop lands with the chain client (issues 4 and 5); the tranche-book arithmetic it
//! applies is [`crate::vesting::book`].
