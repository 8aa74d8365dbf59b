//! Uptime: observations from axon probes and the validator's API, hourly and daily rollups, and
//! the bonus families of the uptime strategy (docs/rules.md, "Uptime"). Tier lookups use [`crate::tiers`].
//!
//! `history` is what the rollups say about one miner; `bonus` turns it into every bonus family
//! and the multiplier, with the metric and the reason behind each. Both are pure.

pub mod bonus;
pub mod cache;
pub mod epoch;
pub mod grants;
pub mod history;
pub mod leaderboard;
pub mod probe;
pub mod store;

pub use bonus::{Bonus, Family, Milestone, Outcome, Rule, evaluate};
pub use history::{Achievement, Grant, History, Period};
