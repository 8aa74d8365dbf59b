//! Everything about the chain, in our own types: accounts, balances, uids and the epoch
//! schedule, and the subxt client that talks to a node. No subxt type leaks out of this module.

pub mod check;
pub mod client;
pub mod events;
pub mod follow;
pub mod identity;
pub mod schedule;
pub mod share_pool;
pub mod state;
pub mod submit;
pub mod subxt_config;
pub mod types;

pub use types::{AccountId, MechId, NetUid, Rao, Uid};
