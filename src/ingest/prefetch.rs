//! Reads ahead of the planner, so that catch-up over a network is bound by how many blocks are
//! in flight, not by round trips per block.
//!
//! The planner is sequential (each block is set against what the previous ones left), but
//! almost everything it reads can be guessed from what it knew a few blocks earlier — the
//! [`Hint`]: the live hotkeys (whose owners are followed), the tracked coldkeys and the pairs
//! they hold. Blocks are read in flight against the hint:
//! - owners over a **segment** of consecutive blocks in one `state_queryStorage` (the node says
//!   in which block an owner changed), or at each block where the node refuses range queries;
//! - the block's header, timestamp, events and epoch data;
//! - the stake of the coldkeys the block's events (or its epoch) touch.
//!
//! The planner checks that what was read covers what it needs and reads the rest itself
//! ([`super::plan`]): the hint only decides how much is read ahead, never what is written.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use crate::chain::client::{BlockRef, ChainClient, ChainError};
use crate::chain::events::ChainEvent;
pub use crate::chain::state::Held;
use crate::chain::state::{self, BlockData};
use crate::chain::{AccountId, NetUid, Rao};

use super::plan::{State, stake_touch};

/// What the planner knew recently, for reading ahead.
#[derive(Debug, Default)]
pub struct Hint {
    /// Live miners' hotkeys: their owners are followed.
    pub hotkeys: Vec<AccountId>,
    pub owners: BTreeMap<AccountId, AccountId>,
    pub tracked: BTreeSet<AccountId>,
    /// coldkey → hotkeys it holds alpha on.
    pub known: BTreeMap<AccountId, Vec<AccountId>>,
    /// hotkey → coldkeys (tracked) holding alpha on it.
    pub stakers: BTreeMap<AccountId, Vec<AccountId>>,
}

impl Hint {
    pub fn of(state: &State) -> Self {
        let mut known: BTreeMap<AccountId, Vec<AccountId>> = BTreeMap::new();
        let mut stakers: BTreeMap<AccountId, Vec<AccountId>> = BTreeMap::new();
        for (c, h) in state.holdings.keys() {
            known.entry(*c).or_default().push(*h);
            stakers.entry(*h).or_default().push(*c);
        }
        Hint {
            hotkeys: state.miners.values().map(|l| l.hotkey).collect(),
            owners: state.owners.clone(),
            tracked: state.tracked.clone(),
            known,
            stakers,
        }
    }
}

/// The hint shared between the planner (which renews it) and the reads in flight.
#[derive(Clone, Default)]
pub struct SharedHint(Arc<RwLock<Arc<Hint>>>);

impl SharedHint {
    pub fn new(state: &State) -> Self {
        SharedHint(Arc::new(RwLock::new(Arc::new(Hint::of(state)))))
    }

    pub fn get(&self) -> Arc<Hint> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn renew(&self, state: &State) {
        let hint = Arc::new(Hint::of(state));
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = hint;
    }
}

/// Consecutive blocks whose owners were read together.
#[derive(Debug)]
pub struct Segment {
    pub blocks: Vec<BlockRef>,
    /// The hotkeys whose owners were read through the whole segment.
    pub covered: BTreeSet<AccountId>,
    /// Read as a range (`state_queryStorage`); otherwise the segment is one block.
    pub ranged: bool,
}

impl Segment {
    pub fn first(&self) -> u64 {
        self.blocks.first().map_or(0, |b| b.number)
    }

    /// The blocks from `number` to the segment's end.
    pub fn rest(&self, number: u64) -> &[BlockRef] {
        let i = number.saturating_sub(self.first()) as usize;
        self.blocks.get(i..).unwrap_or(&[])
    }
}

/// A block's owners as read ahead: the changes in it (every covered hotkey at the segment's
/// first block).
#[derive(Debug, Clone)]
pub struct BlockOwners {
    pub segment: Arc<Segment>,
    pub reported: Vec<(AccountId, AccountId)>,
}

impl BlockOwners {
    /// Owners read at `block` alone (`hotkeys` at that block).
    pub fn single(block: BlockRef, hotkeys: Vec<AccountId>, owners: Vec<AccountId>) -> Self {
        BlockOwners {
            segment: Arc::new(Segment {
                blocks: vec![block],
                covered: hotkeys.iter().copied().collect(),
                ranged: false,
            }),
            reported: hotkeys.into_iter().zip(owners).collect(),
        }
    }
}

/// A block as the planner takes it.
#[derive(Debug, Clone)]
pub struct ReadBlock {
    pub data: BlockData,
    pub owners: BlockOwners,
    pub held: Held,
}

/// The owners of the hinted hotkeys through `blocks`: one range query where the node serves
/// it, else `None` (each block then reads its own).
pub async fn segment(
    client: &ChainClient,
    blocks: Vec<BlockRef>,
    hint: &Hint,
) -> Result<Vec<(BlockRef, Option<BlockOwners>)>, ChainError> {
    let covered = hint.hotkeys.clone();
    let Some(changes) = client.owner_changes(&blocks, &covered).await? else {
        return Ok(blocks.into_iter().map(|b| (b, None)).collect());
    };
    let segment = Arc::new(Segment {
        blocks: blocks.clone(),
        covered: covered.into_iter().collect(),
        ranged: true,
    });
    Ok(blocks
        .into_iter()
        .zip(changes)
        .map(|(b, reported)| {
            let owners = BlockOwners {
                segment: segment.clone(),
                reported,
            };
            (b, Some(owners))
        })
        .collect())
}

/// Everything the planner will want of `block`, read against `hint`: its header, its state
/// (and the hinted owners, unless a segment read them) and the stake its events touch, all
/// through one reader of the block.
pub async fn block(
    client: &ChainClient,
    netuid: NetUid,
    block: BlockRef,
    owners: Option<BlockOwners>,
    hint: &Hint,
) -> Result<ReadBlock, ChainError> {
    let owners = &owners;
    let read = client.at(block, |r| async move {
        let owners = async {
            match owners {
                Some(o) => Ok(o.clone()),
                None => {
                    let values = state::owners_at(&r, &hint.hotkeys).await?;
                    Ok(BlockOwners::single(block, hint.hotkeys.clone(), values))
                }
            }
        };
        let (body, owners) = futures::future::try_join(state::body(&r, netuid), owners).await?;
        let dirty = dirty_coldkeys(&body.events, body.epoch.is_some(), &owners, hint, netuid);
        let held = if dirty.is_empty() {
            Held::default()
        } else {
            let known: Vec<(AccountId, AccountId)> = dirty
                .iter()
                .flat_map(|c| {
                    hint.known
                        .get(c)
                        .into_iter()
                        .flatten()
                        .map(move |h| (*c, *h))
                })
                .collect();
            state::staked_at(&r, netuid, &dirty, &known).await?
        };
        Ok((body, owners, held))
    });
    let (parent_hash, (body, owners, held)) =
        futures::future::try_join(client.parent_hash(block), read).await?;
    Ok(ReadBlock {
        data: body.into_data(block, parent_hash),
        owners,
        held,
    })
}

/// The coldkeys whose stake the planner will re-read in this block, as far as the hint tells.
fn dirty_coldkeys(
    events: &[ChainEvent],
    epoch: bool,
    owners: &BlockOwners,
    hint: &Hint,
    ours: NetUid,
) -> Vec<AccountId> {
    let mut coldkeys: BTreeSet<AccountId> = BTreeSet::new();
    let mut hotkeys: BTreeSet<AccountId> = BTreeSet::new();
    let mut fresh: BTreeSet<AccountId> = BTreeSet::new();
    for ev in events {
        match ev {
            ChainEvent::HotkeySwapped {
                coldkey,
                old_hotkey,
                new_hotkey,
            } => {
                coldkeys.insert(*coldkey);
                hotkeys.extend([*old_hotkey, *new_hotkey]);
            }
            ChainEvent::ColdkeySwapped {
                old_coldkey,
                new_coldkey,
            } => {
                coldkeys.extend([*old_coldkey, *new_coldkey]);
                fresh.insert(*new_coldkey);
            }
            other => {
                let (c, h) = stake_touch(other, ours);
                coldkeys.extend(c);
                hotkeys.extend(h);
            }
        }
    }
    for (h, c) in &owners.reported {
        if hint.owners.get(h) != Some(c) {
            coldkeys.insert(*c);
            hotkeys.insert(*h);
            fresh.insert(*c);
        }
    }
    if epoch {
        coldkeys.extend(hint.tracked.iter().copied());
    }
    for h in &hotkeys {
        coldkeys.extend(hint.stakers.get(h).into_iter().flatten().copied());
    }
    coldkeys
        .into_iter()
        .filter(|c| hint.tracked.contains(c) || fresh.contains(c))
        .collect()
}

impl Held {
    /// The holdings of `coldkeys` (their staking hotkeys plus `also`) if everything was read
    /// ahead; the coldkeys that were not, to be read now.
    pub fn cover(
        &self,
        coldkeys: &BTreeSet<AccountId>,
        also: &[(AccountId, AccountId)],
    ) -> (BTreeMap<(AccountId, AccountId), Rao>, BTreeSet<AccountId>) {
        let mut pairs: BTreeSet<(AccountId, AccountId)> = BTreeSet::new();
        let mut missing: BTreeSet<AccountId> = BTreeSet::new();
        for c in coldkeys {
            match self.staking.get(c) {
                Some(hotkeys) => pairs.extend(hotkeys.iter().map(|h| (*c, *h))),
                None => {
                    missing.insert(*c);
                }
            }
        }
        pairs.extend(also.iter().filter(|(c, _)| !missing.contains(c)).copied());
        let mut out = BTreeMap::new();
        for p in pairs {
            match self.alpha.get(&p) {
                Some(a) => {
                    out.insert(p, *a);
                }
                None => {
                    missing.insert(p.0);
                }
            }
        }
        out.retain(|(c, _), _| !missing.contains(c));
        (out, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> AccountId {
        AccountId([n; 32])
    }

    fn held() -> Held {
        Held {
            staking: [(a(1), vec![a(10), a(11)]), (a(2), vec![a(10)])]
                .into_iter()
                .collect(),
            alpha: [
                ((a(1), a(10)), 5),
                ((a(1), a(11)), 0),
                ((a(1), a(12)), 7),
                ((a(2), a(10)), 9),
            ]
            .into_iter()
            .collect(),
        }
    }

    /// What was read ahead answers exactly the pairs one read would give: the staking hotkeys
    /// of the coldkeys asked for and the known pairs, nothing of other coldkeys.
    #[test]
    fn cover_gives_exactly_the_pairs_asked_for() {
        let (pairs, missing) = held().cover(&[a(1)].into_iter().collect(), &[(a(1), a(12))]);
        assert!(missing.is_empty());
        let want: BTreeMap<_, _> = [((a(1), a(10)), 5), ((a(1), a(11)), 0), ((a(1), a(12)), 7)]
            .into_iter()
            .collect();
        assert_eq!(pairs, want);
    }

    /// A coldkey not read ahead, or a known pair of it that was not, is read by the planner:
    /// none of its pairs come from the read-ahead (one read gives them all, consistently).
    #[test]
    fn cover_leaves_out_what_was_not_read() {
        let coldkeys = [a(1), a(2), a(3)].into_iter().collect();
        let (pairs, missing) = held().cover(&coldkeys, &[(a(2), a(13))]);
        assert_eq!(missing, [a(2), a(3)].into_iter().collect());
        assert!(pairs.keys().all(|(c, _)| *c == a(1)), "{pairs:?}");
        assert_eq!(pairs.len(), 2);
    }

    /// The read-ahead touches what the planner will: stake events' coldkeys and the tracked
    /// stakers of touched hotkeys, owner changes, every tracked coldkey at an epoch; never an
    /// untracked coldkey that did not just become an owner.
    #[test]
    fn dirty_coldkeys_follow_the_planner() {
        let hint = Hint {
            hotkeys: vec![a(10), a(11)],
            owners: [(a(10), a(1)), (a(11), a(2))].into_iter().collect(),
            tracked: [a(1), a(2), a(4)].into_iter().collect(),
            known: BTreeMap::new(),
            stakers: [(a(11), vec![a(4)])].into_iter().collect(),
        };
        let block = BlockRef {
            number: 7,
            hash: [7; 32],
        };
        let unchanged = BlockOwners::single(block, vec![a(10), a(11)], vec![a(1), a(2)]);
        let stake = ChainEvent::StakeAdded {
            coldkey: a(9),
            hotkey: a(11),
            netuid: 1,
            alpha: 1,
        };
        // An untracked staker (9) is not read; the tracked staker of the hotkey (4) is.
        let got = dirty_coldkeys(&[stake], false, &unchanged, &hint, 1);
        assert_eq!(got, vec![a(4)]);
        // At an epoch, every tracked coldkey.
        let got = dirty_coldkeys(&[], true, &unchanged, &hint, 1);
        assert_eq!(got, vec![a(1), a(2), a(4)]);
        // A new owner (5) of hotkey 10 becomes tracked in this block: read.
        let changed = BlockOwners::single(block, vec![a(10), a(11)], vec![a(5), a(2)]);
        let got = dirty_coldkeys(&[], false, &changed, &hint, 1);
        assert_eq!(got, vec![a(5)]);
    }
}
