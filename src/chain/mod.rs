//! Everything about the chain, in our own types: accounts, balances, uids and the epoch
//! schedule. The subxt client that talks to a node lives here too (issue 4); no subxt type leaks
//! out of this module.

pub mod schedule;
pub mod types;

pub use types::{AccountId, MechId, NetUid, Rao, Uid};
