//! The chain's events that matter to tenure, decoded into our own enum. An event we know by
//! name whose fields do not decode is a loud error (the runtime changed under us); events we do
//! not use are kept by name only.

use subxt::ext::scale_value::{Composite, Value, ValueDef};

use super::client::ChainError;
use super::types::{AccountId, NetUid, Rao, Uid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    NeuronRegistered {
        netuid: NetUid,
        uid: Uid,
        hotkey: AccountId,
    },
    StakeAdded {
        coldkey: AccountId,
        hotkey: AccountId,
        netuid: NetUid,
        alpha: Rao,
    },
    StakeRemoved {
        coldkey: AccountId,
        hotkey: AccountId,
        netuid: NetUid,
        alpha: Rao,
    },
    StakeMoved {
        coldkey: AccountId,
        from_hotkey: AccountId,
        from_netuid: NetUid,
        to_hotkey: AccountId,
        to_netuid: NetUid,
    },
    StakeTransferred {
        from_coldkey: AccountId,
        to_coldkey: AccountId,
        hotkey: AccountId,
        from_netuid: NetUid,
        to_netuid: NetUid,
    },
    StakeSwapped {
        coldkey: AccountId,
        hotkey: AccountId,
        from_netuid: NetUid,
        to_netuid: NetUid,
    },
    HotkeySwapped {
        coldkey: AccountId,
        old_hotkey: AccountId,
        new_hotkey: AccountId,
    },
    ColdkeySwapped {
        old_coldkey: AccountId,
        new_coldkey: AccountId,
    },
    IncentiveAlphaEmittedToMiners {
        /// Netuid storage index (netuid + 4096 · mechanism).
        netuid_index: u16,
        emissions: Vec<Rao>,
    },
    AxonServed {
        netuid: NetUid,
        hotkey: AccountId,
    },
    SetChildren {
        hotkey: AccountId,
        netuid: NetUid,
    },
    WeightsSet {
        netuid_index: u16,
        uid: Uid,
    },
    TimelockedWeightsCommitted {
        who: AccountId,
        netuid_index: u16,
        reveal_round: u64,
    },
    TimelockedWeightsRevealed {
        netuid_index: u16,
        who: AccountId,
    },
    /// A subnet hyperparameter changed (`TempoSet`, `WeightsSetRateLimitSet`, …): cached
    /// values are stale.
    HyperparameterSet {
        netuid: NetUid,
        name: String,
    },
    /// `System.CodeUpdated`: a runtime upgrade takes effect from the next block.
    CodeUpdated,
    Other {
        pallet: String,
        name: String,
    },
}

/// Hyperparameter events whose first field is the netuid.
const HYPERPARAMETER_EVENTS: &[&str] = &[
    "TempoSet",
    "WeightsSetRateLimitSet",
    "WeightsVersionKeySet",
    "CommitRevealEnabled",
    "CommitRevealPeriodsSet",
    "MinAllowedWeightSet",
    "MaxWeightLimitSet",
    "ActivityCutoffSet",
    "ActivityCutoffFactorMilliSet",
];

impl ChainEvent {
    /// Decodes one event from its pallet and name and its fields (as the runtime's types
    /// describe them, names dropped).
    pub(crate) fn decode(
        pallet: &str,
        name: &str,
        fields: Composite<()>,
        block: u64,
    ) -> Result<Self, ChainError> {
        let fields: Vec<Value> = fields.into_values().collect();
        let f = Fields {
            v: &fields,
            item: format!("{pallet}.{name}"),
            block,
        };
        use ChainEvent as E;
        Ok(match (pallet, name) {
            ("System", "CodeUpdated") => E::CodeUpdated,
            ("SubtensorModule", "NeuronRegistered") => E::NeuronRegistered {
                netuid: f.u16(0)?,
                uid: f.u16(1)?,
                hotkey: f.account(2)?,
            },
            ("SubtensorModule", "StakeAdded") => E::StakeAdded {
                coldkey: f.account(0)?,
                hotkey: f.account(1)?,
                alpha: f.u64(3)?,
                netuid: f.u16(4)?,
            },
            ("SubtensorModule", "StakeRemoved") => E::StakeRemoved {
                coldkey: f.account(0)?,
                hotkey: f.account(1)?,
                alpha: f.u64(3)?,
                netuid: f.u16(4)?,
            },
            ("SubtensorModule", "StakeMoved") => E::StakeMoved {
                coldkey: f.account(0)?,
                from_hotkey: f.account(1)?,
                from_netuid: f.u16(2)?,
                to_hotkey: f.account(3)?,
                to_netuid: f.u16(4)?,
            },
            ("SubtensorModule", "StakeTransferred") => E::StakeTransferred {
                from_coldkey: f.account(0)?,
                to_coldkey: f.account(1)?,
                hotkey: f.account(2)?,
                from_netuid: f.u16(3)?,
                to_netuid: f.u16(4)?,
            },
            ("SubtensorModule", "StakeSwapped") => E::StakeSwapped {
                coldkey: f.account(0)?,
                hotkey: f.account(1)?,
                from_netuid: f.u16(2)?,
                to_netuid: f.u16(3)?,
            },
            ("SubtensorModule", "HotkeySwapped") => E::HotkeySwapped {
                coldkey: f.account(0)?,
                old_hotkey: f.account(1)?,
                new_hotkey: f.account(2)?,
            },
            ("SubtensorModule", "ColdkeySwapped") => E::ColdkeySwapped {
                old_coldkey: f.account(0)?,
                new_coldkey: f.account(1)?,
            },
            ("SubtensorModule", "IncentiveAlphaEmittedToMiners") => {
                E::IncentiveAlphaEmittedToMiners {
                    netuid_index: f.u16(0)?,
                    emissions: f.u64s(1)?,
                }
            }
            ("SubtensorModule", "AxonServed") => E::AxonServed {
                netuid: f.u16(0)?,
                hotkey: f.account(1)?,
            },
            ("SubtensorModule", "SetChildren") => E::SetChildren {
                hotkey: f.account(0)?,
                netuid: f.u16(1)?,
            },
            ("SubtensorModule", "WeightsSet") => E::WeightsSet {
                netuid_index: f.u16(0)?,
                uid: f.u16(1)?,
            },
            ("SubtensorModule", "TimelockedWeightsCommitted") => E::TimelockedWeightsCommitted {
                who: f.account(0)?,
                netuid_index: f.u16(1)?,
                reveal_round: f.u64(3)?,
            },
            ("SubtensorModule", "TimelockedWeightsRevealed") => E::TimelockedWeightsRevealed {
                netuid_index: f.u16(0)?,
                who: f.account(1)?,
            },
            ("SubtensorModule", n) if HYPERPARAMETER_EVENTS.contains(&n) => E::HyperparameterSet {
                netuid: f.u16(0)?,
                name: n.to_string(),
            },
            (p, n) => E::Other {
                pallet: p.to_string(),
                name: n.to_string(),
            },
        })
    }
}

/// Positional access to an event's fields, with errors naming the event and field.
struct Fields<'a> {
    v: &'a [Value],
    item: String,
    block: u64,
}

impl Fields<'_> {
    fn err(&self, i: usize, what: &str) -> ChainError {
        ChainError::Decode {
            item: self.item.clone(),
            block: self.block,
            reason: format!("field {i} is not {what}"),
        }
    }

    fn field(&self, i: usize, what: &str) -> Result<&Value, ChainError> {
        self.v.get(i).ok_or_else(|| self.err(i, what))
    }

    fn uint(&self, i: usize, what: &str) -> Result<u128, ChainError> {
        unwrap_newtype(self.field(i, what)?)
            .as_u128()
            .ok_or_else(|| self.err(i, what))
    }

    fn u16(&self, i: usize) -> Result<u16, ChainError> {
        u16::try_from(self.uint(i, "a u16")?).map_err(|_| self.err(i, "a u16"))
    }

    fn u64(&self, i: usize) -> Result<u64, ChainError> {
        u64::try_from(self.uint(i, "a u64")?).map_err(|_| self.err(i, "a u64"))
    }

    fn u64s(&self, i: usize) -> Result<Vec<u64>, ChainError> {
        match &unwrap_newtype(self.field(i, "a list of u64")?).value {
            ValueDef::Composite(c) => c
                .values()
                .map(|v| {
                    unwrap_newtype(v)
                        .as_u128()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| self.err(i, "a list of u64"))
                })
                .collect(),
            _ => Err(self.err(i, "a list of u64")),
        }
    }

    fn account(&self, i: usize) -> Result<AccountId, ChainError> {
        account(self.field(i, "an account")?).ok_or_else(|| self.err(i, "an account"))
    }
}

/// `NetUid(u16)`, `AlphaBalance(u64)`, …: single-field composites around a primitive.
fn unwrap_newtype(v: &Value) -> &Value {
    match &v.value {
        ValueDef::Composite(c) if c.len() == 1 => match c.values().next() {
            Some(inner) => unwrap_newtype(inner),
            None => v,
        },
        _ => v,
    }
}

/// An `AccountId32`: 32 bytes, possibly inside newtype composites.
fn account(v: &Value) -> Option<AccountId> {
    let ValueDef::Composite(c) = &unwrap_newtype(v).value else {
        return None;
    };
    if c.len() != 32 {
        return None;
    }
    let mut out = [0u8; 32];
    for (b, x) in out.iter_mut().zip(c.values()) {
        *b = u8::try_from(x.as_u128()?).ok()?;
    }
    Some(AccountId(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(b: u8) -> Value {
        Value::unnamed_composite([Value::unnamed_composite(
            (0..32).map(|_| Value::u128(u128::from(b))),
        )])
    }

    fn n(x: u128) -> Value {
        Value::u128(x)
    }

    #[test]
    fn decodes_stake_events_with_newtypes() {
        let fields = Composite::Unnamed(vec![
            acct(1),
            acct(2),
            n(5),
            Value::unnamed_composite([n(7)]),
            Value::unnamed_composite([n(3)]),
            n(0),
        ]);
        let e = ChainEvent::decode("SubtensorModule", "StakeAdded", fields, 9).unwrap();
        assert_eq!(
            e,
            ChainEvent::StakeAdded {
                coldkey: AccountId([1; 32]),
                hotkey: AccountId([2; 32]),
                netuid: 3,
                alpha: 7
            }
        );
    }

    #[test]
    fn a_known_event_with_wrong_fields_is_a_loud_error() {
        let fields = Composite::Unnamed(vec![n(1)]);
        let err = ChainEvent::decode("SubtensorModule", "NeuronRegistered", fields, 42)
            .map(|_| ())
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("NeuronRegistered") && msg.contains("42") && msg.contains("field 1"),
            "{msg}"
        );
        let other =
            ChainEvent::decode("Balances", "Transfer", Composite::Unnamed(vec![]), 1).unwrap();
        assert!(matches!(other, ChainEvent::Other { .. }));
    }
}
