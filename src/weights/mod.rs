//! Epoch weights: base scores × uptime × vesting × penalty, normalized and converted to the u16
//! vectors the chain stores exactly as the Bittensor SDK does, submitted once per epoch through
//! a state machine in the database, and explained per miner.

pub mod emit;
pub mod explain;
pub mod explanation;
pub mod inputs;
pub mod normalize;
pub mod penalty;
pub mod pipeline;
pub mod run;
pub mod scores;
pub mod submission;

pub use normalize::{WeightsError, to_u16};
