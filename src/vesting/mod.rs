//! Vesting: miners whose coldkey keeps the alpha it earned, and for longer, get a higher
//! multiplier. The tranche book turns stake changes and emissions into per-tranche holdings;
//! the multiplier turns holding metrics into a reward. Both are pure; ingestion and the epoch
//! pipeline feed them from the database.

pub mod book;
pub mod epoch;
pub mod multiplier;
pub mod report;
pub mod store;
pub mod tally;
pub mod window;

pub use book::{Book, Tranche, TrancheKind};
pub use multiplier::{Holding, Outcome, multiplier};
