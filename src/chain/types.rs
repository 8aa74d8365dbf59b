//! Accounts as the chain shows them (SS58); the units re-exported from [`crate::units`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::units::{MechId, NetUid, RAO_PER_UNIT, Rao, Uid, format_alpha};

/// A 32-byte account (hotkey or coldkey), shown and parsed as SS58 (any prefix is accepted on
/// input; output uses Bittensor's prefix 42).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub [u8; 32]);

#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not an SS58 account: {reason}")]
pub struct AccountParseError {
    input: String,
    reason: String,
}

impl AccountId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_ss58(&self) -> String {
        subxt::utils::AccountId32(self.0).to_string()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_ss58())
    }
}

impl FromStr for AccountId {
    type Err = AccountParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        subxt::utils::AccountId32::from_str(s)
            .map(|a| AccountId(a.0))
            .map_err(|e| AccountParseError {
                input: s.chars().take(64).collect(),
                reason: e.to_string(),
            })
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_ss58())
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss58_round_trip_uses_prefix_42() {
        let alice = AccountId([
            0xd4, 0x35, 0x93, 0xc7, 0x15, 0xfd, 0xd3, 0x1c, 0x61, 0x14, 0x1a, 0xbd, 0x04, 0xa9,
            0x9f, 0xd6, 0x82, 0x2c, 0x85, 0x58, 0x85, 0x4c, 0xcd, 0xe3, 0x9a, 0x56, 0x84, 0xe7,
            0xa5, 0x6d, 0xa2, 0x7d,
        ]);
        let s = alice.to_ss58();
        assert_eq!(s, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert_eq!(s.parse::<AccountId>().unwrap(), alice);
        let json = serde_json::to_string(&alice).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), alice);
    }

    #[test]
    fn bad_ss58_is_an_error_naming_the_input() {
        let err = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQX"
            .parse::<AccountId>()
            .unwrap_err();
        assert!(err.to_string().contains("5GrwvaEF"), "{err}");
        assert!("not-an-account".parse::<AccountId>().is_err());
    }

    #[test]
    fn alpha_formatting_is_exact() {
        assert_eq!(format_alpha(0), "0.000000000");
        assert_eq!(format_alpha(12_500_000_000), "12.500000000");
        assert_eq!(format_alpha(u64::MAX), "18446744073.709551615");
    }
}
