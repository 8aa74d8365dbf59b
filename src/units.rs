//! The plain units every part of tenure counts in: subnets, uids, mechanisms and balances.
//! A leaf: it imports nothing, so the reward math and the stores use it without reaching into
//! the chain client. Balances are integer RAO (1 alpha = 1e9 RAO), never floats.

pub type NetUid = u16;
pub type Uid = u16;
pub type MechId = u8;
/// An alpha or TAO amount in RAO.
pub type Rao = u64;

/// RAO per alpha (or TAO).
pub const RAO_PER_UNIT: Rao = 1_000_000_000;

/// Formats RAO as alpha with 9 decimals, e.g. `12.500000000`; exact (no floats).
pub fn format_alpha(rao: Rao) -> String {
    format!("{}.{:09}", rao / RAO_PER_UNIT, rao % RAO_PER_UNIT)
}
