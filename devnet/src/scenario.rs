//! Scripted behaviour: a scenario file of JSON lines, each an action at a block, e.g.
//! `{"block": 12, "action": "sell", "uid": 3, "alpha": 5000000000}`. The random behaviour of
//! `--activity` draws the same actions, so both go through one code path.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::pools::Rao;

/// Something a coldkey (or the chain) does to a uid's miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The owner stakes `alpha` more on its hotkey (StakeAdded).
    Buy { uid: u16, alpha: Rao },
    /// The owner unstakes `alpha`, or everything when `None` (StakeRemoved).
    Sell { uid: u16, alpha: Option<Rao> },
    /// The owner moves `alpha` from its hotkey to `to_uid`'s hotkey (StakeMoved).
    Move { uid: u16, to_uid: u16, alpha: Rao },
    /// The uid is registered to a new hotkey of a new coldkey (NeuronRegistered).
    Reregister { uid: u16 },
    /// The owner moves the miner to a new hotkey (HotkeySwapped).
    SwapHotkey { uid: u16 },
    /// The hotkey gets a new owner (no event).
    ChangeOwner { uid: u16 },
    /// The owner's coldkey is swapped for a new one (ColdkeySwapped).
    SwapColdkey { uid: u16 },
}

impl Action {
    pub fn uid(&self) -> u16 {
        match *self {
            Action::Buy { uid, .. }
            | Action::Sell { uid, .. }
            | Action::Move { uid, .. }
            | Action::Reregister { uid }
            | Action::SwapHotkey { uid }
            | Action::ChangeOwner { uid }
            | Action::SwapColdkey { uid } => uid,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    block: u64,
    action: String,
    uid: u16,
    alpha: Option<Rao>,
    to_uid: Option<u16>,
}

/// Actions by block, in file order within a block.
pub type Scenario = BTreeMap<u64, Vec<Action>>;

/// Reads a scenario; every error names the file and line.
pub fn load(path: &Path, uids: u16, validators: u16) -> anyhow::Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read scenario {}: {e}", path.display()))?;
    parse(&text, uids, validators).map_err(|e| anyhow::anyhow!("scenario {}: {e}", path.display()))
}

pub fn parse(text: &str, uids: u16, validators: u16) -> Result<Scenario, String> {
    let mut scenario = Scenario::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let l: Line = serde_json::from_str(raw).map_err(|e| format!("line {n}: {e}"))?;
        if l.block == 0 {
            return Err(format!(
                "line {n}: block 0 is genesis; actions start at block 1"
            ));
        }
        if l.uid >= uids {
            return Err(format!(
                "line {n}: uid {} does not exist (the subnet has {uids})",
                l.uid
            ));
        }
        let need_alpha = || {
            l.alpha
                .ok_or_else(|| format!("line {n}: `{}` needs `alpha` (RAO)", l.action))
        };
        let miner_only = |what: &str| {
            if l.uid < validators {
                Err(format!(
                    "line {n}: `{what}` applies to miners; uid {} is a validator",
                    l.uid
                ))
            } else {
                Ok(())
            }
        };
        let action = match l.action.as_str() {
            "buy" => Action::Buy {
                uid: l.uid,
                alpha: need_alpha()?,
            },
            "sell" => Action::Sell {
                uid: l.uid,
                alpha: l.alpha,
            },
            "move" => {
                let to_uid = l
                    .to_uid
                    .ok_or_else(|| format!("line {n}: `move` needs `to_uid`"))?;
                if to_uid >= uids || to_uid == l.uid {
                    return Err(format!(
                        "line {n}: to_uid {to_uid} must be another existing uid"
                    ));
                }
                Action::Move {
                    uid: l.uid,
                    to_uid,
                    alpha: need_alpha()?,
                }
            }
            "reregister" => {
                miner_only("reregister")?;
                Action::Reregister { uid: l.uid }
            }
            "swap_hotkey" => {
                miner_only("swap_hotkey")?;
                Action::SwapHotkey { uid: l.uid }
            }
            "change_owner" => Action::ChangeOwner { uid: l.uid },
            "swap_coldkey" => Action::SwapColdkey { uid: l.uid },
            other => {
                return Err(format!(
                    "line {n}: unknown action `{other}` (buy, sell, move, reregister, swap_hotkey, change_owner, swap_coldkey)"
                ));
            }
        };
        scenario.entry(l.block).or_default().push(action);
    }
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_actions_and_names_bad_lines() {
        let s = parse(
            "# a comment\n{\"block\": 5, \"action\": \"buy\", \"uid\": 3, \"alpha\": 10}\n\n{\"block\": 5, \"action\": \"sell\", \"uid\": 3}\n{\"block\": 9, \"action\": \"move\", \"uid\": 3, \"to_uid\": 4, \"alpha\": 2}\n",
            8,
            2,
        )
        .unwrap();
        assert_eq!(
            s[&5],
            vec![
                Action::Buy { uid: 3, alpha: 10 },
                Action::Sell {
                    uid: 3,
                    alpha: None
                }
            ]
        );
        assert_eq!(
            s[&9],
            vec![Action::Move {
                uid: 3,
                to_uid: 4,
                alpha: 2
            }]
        );
        let bad = [
            (
                "{\"block\": 1, \"action\": \"buy\", \"uid\": 3}",
                "needs `alpha`",
            ),
            (
                "{\"block\": 1, \"action\": \"fly\", \"uid\": 3}",
                "unknown action",
            ),
            (
                "{\"block\": 1, \"action\": \"sell\", \"uid\": 30}",
                "does not exist",
            ),
            (
                "{\"block\": 1, \"action\": \"reregister\", \"uid\": 0}",
                "validator",
            ),
            (
                "{\"block\": 0, \"action\": \"sell\", \"uid\": 3}",
                "genesis",
            ),
            (
                "{\"block\": 1, \"action\": \"sell\", \"uid\": 3, \"extra\": 1}",
                "unknown field",
            ),
        ];
        for (text, why) in bad {
            let e = parse(&format!("\n{text}"), 8, 2).unwrap_err();
            assert!(e.contains("line 2") && e.contains(why), "{text}: {e}");
        }
    }
}
