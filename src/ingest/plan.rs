//! What one finalized block changes, computed against what tenure knows so far (its in-memory
//! state, loaded from the database at start). The result is a [`BlockWrite`]: plain rows that
//! [`super::store`] writes in one transaction. The state is advanced as if the write succeeds;
//! when a write fails the whole pipeline restarts from the database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::prefetch::{BlockOwners, Held, ReadBlock, Segment};

use crate::chain::client::{BlockRef, ChainClient, ChainError};
use crate::chain::events::ChainEvent;
use crate::chain::schedule::GLOBAL_MAX_SUBNET_COUNT;
use crate::chain::state::{BlockData, Holding, Neuron};
use crate::chain::{AccountId, NetUid, Rao, Uid};
use crate::config::StakeScope;

/// A uid's current miner as tenure knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub hotkey: AccountId,
    pub registered_at: u64,
    pub permit: bool,
}

/// Everything the planner needs to know about the past, reloadable from the database.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The last block written: (number, hash).
    pub cursor: Option<(u64, [u8; 32])>,
    /// The runtime version of that block: a change may change the share-pool arithmetic.
    pub spec_version: Option<u32>,
    pub miners: BTreeMap<Uid, Live>,
    /// Owner of every hotkey tenure follows (open `hotkey_owners` rows).
    pub owners: BTreeMap<AccountId, AccountId>,
    /// Coldkeys that ever owned a miner: their stake is followed.
    pub tracked: BTreeSet<AccountId>,
    /// Last known alpha per (coldkey, hotkey) of tracked coldkeys; zero pairs are dropped.
    pub holdings: BTreeMap<(AccountId, AccountId), Rao>,
    /// Owners as read ahead over the current segment (not stored: a restart starts a new one).
    pub owner_view: OwnerView,
}

/// The owners of the current segment's covered hotkeys, block by block, and of hotkeys the
/// planner had to read itself (registered after the segment was read).
#[derive(Debug, Clone, Default)]
pub struct OwnerView {
    segment: Option<Arc<Segment>>,
    seen: BTreeMap<AccountId, AccountId>,
    /// Read by the planner for the rest of the segment: later blocks' changes, by block.
    extra_changes: BTreeMap<u64, Vec<(AccountId, AccountId)>>,
    extra_covered: BTreeSet<AccountId>,
}

impl OwnerView {
    /// Moves the view to `block` with what was read ahead for it.
    fn advance(&mut self, number: u64, owners: &BlockOwners) {
        let same = self
            .segment
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &owners.segment));
        if owners.segment.first() == number {
            *self = OwnerView {
                segment: Some(owners.segment.clone()),
                ..OwnerView::default()
            };
        } else if !same {
            // The segment's start was not seen (a restart inside it): nothing is known.
            *self = OwnerView::default();
            return;
        }
        self.seen.extend(owners.reported.iter().copied());
        if let Some(changes) = self.extra_changes.remove(&number) {
            self.seen.extend(changes);
        }
    }

    /// The owner of `h` at the current block, if the view follows it.
    fn owner(&self, h: &AccountId) -> Option<AccountId> {
        let covered = self.extra_covered.contains(h)
            || self.segment.as_ref().is_some_and(|s| s.covered.contains(h));
        covered.then(|| self.seen.get(h).copied()).flatten()
    }
}

/// A block's rows.
#[derive(Debug, Clone, Default)]
pub struct BlockWrite {
    pub number: u64,
    pub hash: [u8; 32],
    pub parent_hash: [u8; 32],
    pub timestamp_ms: u64,
    pub spec_version: u32,
    /// (epoch index, tempo) when the epoch ran in this block.
    pub epoch: Option<(u64, u16)>,
    /// The first block of this database's history (a snapshot, not a diff).
    pub snapshot: bool,
    pub deregistered: Vec<Uid>,
    /// (uid, hotkey, registered at block).
    pub registered: Vec<(Uid, AccountId, u64)>,
    /// (uid, coldkey, old hotkey, new hotkey).
    pub hotkey_swaps: Vec<(Uid, AccountId, AccountId, AccountId)>,
    /// (old coldkey, new coldkey): the new one takes over the old one's books.
    pub coldkey_swaps: Vec<(AccountId, AccountId)>,
    /// Hotkeys whose owner row closes without a successor (swapped away).
    pub owners_closed: Vec<AccountId>,
    /// hotkey → (coldkey, reason); at most one per hotkey and block.
    pub owner_changes: BTreeMap<AccountId, (AccountId, &'static str)>,
    pub permits: Vec<(Uid, bool)>,
    pub stake: Vec<Holding>,
    pub emissions: Vec<Emission>,
    pub books: Vec<BookDelta>,
    /// `TimelockedWeightsRevealed` of the subnet (any mechanism).
    pub reveals: Vec<Reveal>,
    /// A block written after skipped ones (`tenure ingest reanchor`): the gap it closes.
    pub gap: Option<Gap>,
}

/// Blocks skipped by a reanchor, and who skipped them and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub from: u64,
    pub to: u64,
    pub actor: String,
    pub reason: String,
}

/// A revealed timelocked commit; for the validator's own hotkey with the `Weights` row the
/// chain stored, as (dest, value) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reveal {
    pub netuid_index: u16,
    pub hotkey: AccountId,
    pub stored: Option<Vec<(u16, u16)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emission {
    pub uid: Uid,
    pub hotkey: AccountId,
    pub coldkey: AccountId,
    pub amount: Rao,
    pub permit: bool,
}

/// One book's inputs for the block: emissions credited (amount, uid), held stake before and
/// after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookDelta {
    pub coldkey: AccountId,
    /// `None` for `stake_scope = "coldkey"`.
    pub hotkey: Option<AccountId>,
    pub emissions: Vec<(Rao, Uid)>,
    pub prev: Rao,
    pub now: Rao,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(
        "block {number} does not follow the last ingested block {cursor} (parent hash differs): the node serves another chain"
    )]
    NotAChild { number: u64, cursor: u64 },
}

pub struct Planner {
    pub netuid: NetUid,
    pub scope: StakeScope,
    pub exempt: BTreeSet<Uid>,
    /// The validator's hotkey: its reveals are recorded with the weights the chain stored.
    pub validator: Option<AccountId>,
}

impl Planner {
    /// The planner of ingestion's settings.
    pub fn of(s: &super::Settings) -> Self {
        Planner {
            netuid: s.netuid,
            scope: s.scope,
            exempt: s.exempt.clone(),
            validator: s.validator,
        }
    }

    fn book_key(&self, coldkey: AccountId, hotkey: AccountId) -> (AccountId, Option<AccountId>) {
        match self.scope {
            StakeScope::Coldkey => (coldkey, None),
            StakeScope::Hotkey => (coldkey, Some(hotkey)),
        }
    }

    /// The first block of a database: every neuron, owner and holding as it is, held stake
    /// becoming manual tranches (what happened before is unknown).
    pub async fn snapshot(
        &self,
        client: &ChainClient,
        state: &mut State,
        data: &BlockData,
    ) -> Result<BlockWrite, PlanError> {
        let block = BlockRef {
            number: data.number,
            hash: data.hash,
        };
        let mut w = header(data);
        w.snapshot = true;
        let neurons = client.neuron_snapshot(block, self.netuid).await?;
        for n in &neurons {
            self.register(state, &mut w, n, n.registered_at);
            if n.validator_permit {
                w.permits.push((n.uid, true));
                if let Some(l) = state.miners.get_mut(&n.uid) {
                    l.permit = true;
                }
            }
        }
        self.read_whole(client, block, state, &mut w, data).await?;
        Ok(w)
    }

    /// The block after a gap (`tenure ingest reanchor`): what the skipped blocks did is unknown,
    /// so everything is read whole at this block, as at a first start, and set against what
    /// tenure knew: uids given to other hotkeys, permits, owners, and the stake of every tracked
    /// coldkey (a rise becomes a manual tranche, a fall consumes the newest tranches). The
    /// block's own events and emission are part of what is unknown.
    pub async fn reanchor(
        &self,
        client: &ChainClient,
        state: &mut State,
        data: &BlockData,
        gap: Gap,
    ) -> Result<BlockWrite, PlanError> {
        let block = BlockRef {
            number: data.number,
            hash: data.hash,
        };
        let mut w = header(data);
        w.gap = Some(gap);
        let neurons = client.neuron_snapshot(block, self.netuid).await?;
        let live: BTreeSet<Uid> = neurons.iter().map(|n| n.uid).collect();
        let gone: Vec<Uid> = state
            .miners
            .keys()
            .filter(|u| !live.contains(u))
            .copied()
            .collect();
        for uid in gone {
            state.miners.remove(&uid);
            w.deregistered.push(uid);
        }
        self.correct(state, &mut w, &neurons);
        self.read_whole(client, block, state, &mut w, data).await?;
        Ok(w)
    }

    /// Owners and the stake of every tracked coldkey read whole at `block` (a first start or a
    /// reanchor: what came before is unknown), and the state moved to it.
    async fn read_whole(
        &self,
        client: &ChainClient,
        block: BlockRef,
        state: &mut State,
        w: &mut BlockWrite,
        data: &BlockData,
    ) -> Result<(), PlanError> {
        self.refresh_owners(client, block, state, w, "snapshot")
            .await?;
        let dirty = state.tracked.clone();
        self.restake(
            client,
            block,
            state,
            w,
            (dirty, BTreeMap::new()),
            &Held::default(),
        )
        .await?;
        state.cursor = Some((data.number, data.hash));
        state.spec_version = Some(data.spec_version);
        Ok(())
    }

    /// A block after the cursor, with what was read ahead for it.
    pub async fn block(
        &self,
        client: &ChainClient,
        state: &mut State,
        read: &ReadBlock,
    ) -> Result<BlockWrite, PlanError> {
        let data = &read.data;
        if let Some((n, hash)) = state.cursor
            && (data.number != n + 1 || data.parent_hash != hash)
        {
            return Err(PlanError::NotAChild {
                number: data.number,
                cursor: n,
            });
        }
        let block = BlockRef {
            number: data.number,
            hash: data.hash,
        };
        let mut w = header(data);
        let Touched {
            mut dirty,
            mut dirty_hotkeys,
            merged,
        } = self.apply_events(state, &mut w, data);
        let epoch = data.epoch.as_ref();
        if let Some(e) = epoch {
            w.epoch = Some((e.index, e.tempo));
            // The snapshot corrects anything the events did not say (e.g. bulk registrations).
            self.correct(state, &mut w, &e.neurons);
        }
        // Owner changes need no event: every live hotkey's owner is followed block by block.
        state.owner_view.advance(data.number, &read.owners);
        let owners = self.owners_now(client, block, state).await?;
        self.apply_owners(state, &mut w, owners, "owner_change");
        for (h, (c, _)) in &w.owner_changes {
            dirty.insert(*c);
            dirty_hotkeys.insert(*h);
        }
        if let Some(e) = epoch {
            emissions(state, &mut w, &e.emissions);
            // Emission distribution moves stake without events.
            dirty.extend(state.tracked.iter().copied());
        }
        for (c, h) in state.holdings.keys() {
            if dirty_hotkeys.contains(h) {
                dirty.insert(*c);
            }
        }
        // A runtime upgrade can change the share-pool arithmetic (v1 → v2) and with it every
        // balance by a RAO, without any stake event.
        if state.spec_version.is_some_and(|v| v != data.spec_version) {
            tracing::info!(
                block = data.number,
                spec_version = data.spec_version,
                "runtime upgraded: re-reading all tracked stake"
            );
            dirty.extend(state.tracked.iter().copied());
        }
        state.spec_version = Some(data.spec_version);
        dirty.retain(|c| state.tracked.contains(c));
        self.restake(client, block, state, &mut w, (dirty, merged), &read.held)
            .await?;
        self.reveals(client, block, state, &mut w, data).await?;
        state.cursor = Some((data.number, data.hash));
        Ok(w)
    }

    /// The subnet's reveals in the block; the validator's own with its stored `Weights` row,
    /// read at this block (the next reveal overwrites it).
    async fn reveals(
        &self,
        client: &ChainClient,
        block: BlockRef,
        state: &State,
        w: &mut BlockWrite,
        data: &BlockData,
    ) -> Result<(), ChainError> {
        for ev in &data.events {
            let ChainEvent::TimelockedWeightsRevealed { netuid_index, who } = ev else {
                continue;
            };
            if netuid_index % GLOBAL_MAX_SUBNET_COUNT != self.netuid {
                continue;
            }
            let uid = state
                .miners
                .iter()
                .find(|(_, l)| l.hotkey == *who)
                .map(|(u, _)| *u);
            let stored = match uid {
                Some(uid) if self.validator == Some(*who) => Some(
                    client
                        .fetch::<_, Vec<(u16, u16)>>(
                            block,
                            "SubtensorModule",
                            "Weights",
                            (*netuid_index, uid),
                        )
                        .await?,
                ),
                _ => None,
            };
            w.reveals.push(Reveal {
                netuid_index: *netuid_index,
                hotkey: *who,
                stored,
            });
        }
        Ok(())
    }

    /// Applies the block's events to the state; returns the accounts whose stake to re-read.
    fn apply_events(&self, state: &mut State, w: &mut BlockWrite, data: &BlockData) -> Touched {
        let ours = self.netuid;
        let mut t = Touched::default();
        for ev in &data.events {
            match ev {
                ChainEvent::NeuronRegistered {
                    netuid,
                    uid,
                    hotkey,
                } if *netuid == ours => {
                    let n = Neuron {
                        uid: *uid,
                        hotkey: *hotkey,
                        registered_at: data.number,
                        validator_permit: false,
                    };
                    self.register(state, w, &n, data.number);
                }
                ChainEvent::HotkeySwapped {
                    coldkey,
                    old_hotkey,
                    new_hotkey,
                } => {
                    hotkey_swapped(state, w, *coldkey, *old_hotkey, *new_hotkey);
                    t.dirty_hotkeys.extend([*old_hotkey, *new_hotkey]);
                    t.dirty.insert(*coldkey);
                }
                ChainEvent::ColdkeySwapped {
                    old_coldkey,
                    new_coldkey,
                } if state.tracked.contains(old_coldkey) => {
                    coldkey_swapped(state, w, *old_coldkey, *new_coldkey);
                    t.merged.insert(*new_coldkey, *old_coldkey);
                    t.dirty.extend([*old_coldkey, *new_coldkey]);
                }
                other => {
                    let (coldkeys, hotkeys) = stake_touch(other, ours);
                    t.dirty.extend(coldkeys);
                    t.dirty_hotkeys.extend(hotkeys);
                }
            }
        }
        t
    }

    /// Sets what tenure knows against a neuron snapshot: a uid held by another hotkey is a new
    /// registration, and permits follow the snapshot.
    fn correct(&self, state: &mut State, w: &mut BlockWrite, neurons: &[Neuron]) {
        for n in neurons {
            if state.miners.get(&n.uid).map(|l| l.hotkey) != Some(n.hotkey) {
                self.register(state, w, n, n.registered_at);
            }
            if let Some(l) = state.miners.get_mut(&n.uid)
                && l.permit != n.validator_permit
            {
                l.permit = n.validator_permit;
                w.permits.push((n.uid, n.validator_permit));
            }
        }
    }

    /// A uid given to `n.hotkey`: the previous miner (if any) is deregistered.
    fn register(&self, state: &mut State, w: &mut BlockWrite, n: &Neuron, registered_at: u64) {
        if state.miners.remove(&n.uid).is_some() {
            w.deregistered.push(n.uid);
        }
        w.registered.retain(|(u, ..)| *u != n.uid);
        w.registered.push((n.uid, n.hotkey, registered_at));
        state.miners.insert(
            n.uid,
            Live {
                hotkey: n.hotkey,
                registered_at,
                permit: false,
            },
        );
    }

    /// Reads the owner of every live hotkey; new owners become tracked.
    async fn refresh_owners(
        &self,
        client: &ChainClient,
        block: BlockRef,
        state: &mut State,
        w: &mut BlockWrite,
        reason: &'static str,
    ) -> Result<(), PlanError> {
        let hotkeys: Vec<AccountId> = state.miners.values().map(|l| l.hotkey).collect();
        if hotkeys.is_empty() {
            return Ok(());
        }
        let owners = client.owners(block, hotkeys.clone()).await?;
        self.apply_owners(state, w, hotkeys.into_iter().zip(owners).collect(), reason);
        Ok(())
    }

    /// The owner of every live hotkey at `block`: from what was read ahead, the rest read now
    /// (for the rest of the segment at once, where the node serves ranges).
    async fn owners_now(
        &self,
        client: &ChainClient,
        block: BlockRef,
        state: &mut State,
    ) -> Result<Vec<(AccountId, AccountId)>, PlanError> {
        let mut out = Vec::with_capacity(state.miners.len());
        let mut missing = Vec::new();
        for h in state.miners.values().map(|l| l.hotkey) {
            match state.owner_view.owner(&h) {
                Some(c) => out.push((h, c)),
                None => missing.push(h),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        client
            .counters
            .planner_reads
            .fetch_add(1, Ordering::Relaxed);
        let rest = match &state.owner_view.segment {
            Some(s) if s.ranged => s.rest(block.number).to_vec(),
            _ => Vec::new(),
        };
        let ranged = match rest.is_empty() {
            true => None,
            false => client.owner_changes(&rest, &missing).await?,
        };
        let view = &mut state.owner_view;
        match ranged {
            Some(changes) => {
                let mut changes = changes.into_iter();
                let now = changes.next().unwrap_or_default();
                for (b, c) in rest.iter().skip(1).zip(changes) {
                    view.extra_changes.entry(b.number).or_default().extend(c);
                }
                view.extra_covered.extend(missing.iter().copied());
                view.seen.extend(now.iter().copied());
                out.extend(now);
            }
            _ => {
                let owners = client.owners(block, missing.clone()).await?;
                out.extend(missing.into_iter().zip(owners));
            }
        }
        Ok(out)
    }

    /// Records owners read at this block that differ from what tenure knew; new owners become
    /// tracked.
    fn apply_owners(
        &self,
        state: &mut State,
        w: &mut BlockWrite,
        owners: Vec<(AccountId, AccountId)>,
        reason: &'static str,
    ) {
        let fresh: BTreeSet<AccountId> = w.registered.iter().map(|(_, h, _)| *h).collect();
        for (h, c) in owners {
            if state.owners.get(&h) == Some(&c) {
                continue;
            }
            // A reason set by an event this block (a swap) wins.
            let why = match w.owner_changes.get(&h) {
                Some((_, r)) => *r,
                None if reason == "owner_change" && fresh.contains(&h) => "registration",
                None => reason,
            };
            state.owners.insert(h, c);
            w.owner_changes.insert(h, (c, why));
            state.tracked.insert(c);
        }
    }

    /// Re-reads the holdings of `dirty` coldkeys, records changed pairs and the books' deltas.
    async fn restake(
        &self,
        client: &ChainClient,
        block: BlockRef,
        state: &mut State,
        w: &mut BlockWrite,
        (dirty, merged): (BTreeSet<AccountId>, BTreeMap<AccountId, AccountId>),
        ahead: &Held,
    ) -> Result<(), PlanError> {
        type Key = (AccountId, Option<AccountId>);
        let mut prev: BTreeMap<Key, Rao> = BTreeMap::new();
        let mut now: BTreeMap<Key, Rao> = BTreeMap::new();
        let mut emitted: BTreeMap<Key, Vec<(Rao, Uid)>> = BTreeMap::new();
        for e in &w.emissions {
            if e.amount > 0 && !e.permit && !self.exempt.contains(&e.uid) {
                emitted
                    .entry(self.book_key(e.coldkey, e.hotkey))
                    .or_default()
                    .push((e.amount, e.uid));
            }
        }
        if !dirty.is_empty() {
            let known: Vec<(AccountId, AccountId)> = state
                .holdings
                .keys()
                .filter(|(c, _)| dirty.contains(c))
                .copied()
                .collect();
            let read = self.holdings(client, block, &dirty, known, ahead).await?;
            for h in read {
                let pair = (h.coldkey, h.hotkey);
                let old = state.holdings.get(&pair).copied().unwrap_or(0);
                *prev.entry(self.book_key(h.coldkey, h.hotkey)).or_default() += old;
                *now.entry(self.book_key(h.coldkey, h.hotkey)).or_default() += h.alpha;
                if h.alpha != old {
                    w.stake.push(h);
                }
                if h.alpha == 0 {
                    state.holdings.remove(&pair);
                } else {
                    state.holdings.insert(pair, h.alpha);
                }
            }
        }
        // Coldkey swaps: the old coldkey's books (and their previous stake) become the new one's.
        for (new, old) in &merged {
            let moved: Vec<Key> = prev.keys().filter(|(c, _)| c == old).copied().collect();
            for k in moved {
                let amount = prev.remove(&k).unwrap_or(0);
                *prev.entry((*new, k.1)).or_default() += amount;
            }
        }
        let keys: BTreeSet<Key> = prev
            .keys()
            .chain(now.keys())
            .chain(emitted.keys())
            .copied()
            .collect();
        for k in keys {
            let (p, n) = (
                prev.get(&k).copied().unwrap_or(0),
                now.get(&k).copied().unwrap_or(0),
            );
            let e = emitted.remove(&k).unwrap_or_default();
            if p != n || !e.is_empty() {
                w.books.push(BookDelta {
                    coldkey: k.0,
                    hotkey: k.1,
                    emissions: e,
                    prev: p,
                    now: n,
                });
            }
        }
        Ok(())
    }
}

impl Planner {
    /// The holdings of `dirty` (their staking hotkeys and `known` pairs) at `block`: what was
    /// read ahead, the coldkeys it does not cover read now. In pair order, as one read gives.
    async fn holdings(
        &self,
        client: &ChainClient,
        block: BlockRef,
        dirty: &BTreeSet<AccountId>,
        known: Vec<(AccountId, AccountId)>,
        ahead: &Held,
    ) -> Result<Vec<Holding>, PlanError> {
        let (mut pairs, missing) = ahead.cover(dirty, &known);
        if !missing.is_empty() {
            client
                .counters
                .planner_reads
                .fetch_add(1, Ordering::Relaxed);
            let also: Vec<(AccountId, AccountId)> = known
                .into_iter()
                .filter(|(c, _)| missing.contains(c))
                .collect();
            let read = client
                .staked(block, self.netuid, missing.into_iter().collect(), also)
                .await?;
            pairs.extend(read.alpha);
        }
        Ok(Holding::all(pairs))
    }
}

fn header(data: &BlockData) -> BlockWrite {
    BlockWrite {
        number: data.number,
        hash: data.hash,
        parent_hash: data.parent_hash,
        timestamp_ms: data.timestamp_ms,
        spec_version: data.spec_version,
        ..BlockWrite::default()
    }
}

/// Coldkeys and hotkeys whose alpha in subnet `ours` a stake event may have changed.
pub(crate) fn stake_touch(ev: &ChainEvent, ours: NetUid) -> (Vec<AccountId>, Vec<AccountId>) {
    use ChainEvent as E;
    match ev {
        E::StakeAdded {
            coldkey,
            hotkey,
            netuid,
            ..
        }
        | E::StakeRemoved {
            coldkey,
            hotkey,
            netuid,
            ..
        } if *netuid == ours => (vec![*coldkey], vec![*hotkey]),
        E::StakeMoved {
            coldkey,
            from_hotkey,
            from_netuid,
            to_hotkey,
            to_netuid,
        } if *from_netuid == ours || *to_netuid == ours => {
            (vec![*coldkey], vec![*from_hotkey, *to_hotkey])
        }
        E::StakeTransferred {
            from_coldkey,
            to_coldkey,
            hotkey,
            from_netuid,
            to_netuid,
        } if *from_netuid == ours || *to_netuid == ours => {
            (vec![*from_coldkey, *to_coldkey], vec![*hotkey])
        }
        E::StakeSwapped {
            coldkey,
            hotkey,
            from_netuid,
            to_netuid,
        } if *from_netuid == ours || *to_netuid == ours => (vec![*coldkey], vec![*hotkey]),
        _ => (vec![], vec![]),
    }
}

/// The accounts a block's events touched.
#[derive(Default)]
struct Touched {
    /// Coldkeys whose stake is re-read.
    dirty: BTreeSet<AccountId>,
    /// Hotkeys whose stakers' stake is re-read.
    dirty_hotkeys: BTreeSet<AccountId>,
    /// Coldkey swaps: new → old, so the new coldkey's book starts from the old one's stake.
    merged: BTreeMap<AccountId, AccountId>,
}

/// A hotkey swap moves the uid (when ours) and the ownership to the new hotkey.
fn hotkey_swapped(
    state: &mut State,
    w: &mut BlockWrite,
    coldkey: AccountId,
    old_hotkey: AccountId,
    new_hotkey: AccountId,
) {
    let uid = state
        .miners
        .iter()
        .find(|(_, l)| l.hotkey == old_hotkey)
        .map(|(u, _)| *u);
    let Some(uid) = uid else { return };
    if let Some(l) = state.miners.get_mut(&uid) {
        l.hotkey = new_hotkey;
    }
    w.hotkey_swaps.push((uid, coldkey, old_hotkey, new_hotkey));
    state.owners.remove(&old_hotkey);
    w.owners_closed.push(old_hotkey);
    w.owner_changes.remove(&old_hotkey);
    state.owners.insert(new_hotkey, coldkey);
    w.owner_changes.insert(new_hotkey, (coldkey, "hotkey_swap"));
}

/// A coldkey swap hands every hotkey the old coldkey owned to the new one, which is tracked
/// from now on.
fn coldkey_swapped(state: &mut State, w: &mut BlockWrite, old: AccountId, new: AccountId) {
    let owned: Vec<AccountId> = state
        .owners
        .iter()
        .filter(|(_, c)| **c == old)
        .map(|(h, _)| *h)
        .collect();
    for h in owned {
        state.owners.insert(h, new);
        w.owner_changes.insert(h, (new, "coldkey_swap"));
    }
    state.tracked.insert(new);
    w.coldkey_swaps.push((old, new));
}

/// The epoch's emissions by uid, credited to each live miner's owner.
fn emissions(state: &State, w: &mut BlockWrite, amounts: &[u64]) {
    for (uid, amount) in amounts.iter().enumerate() {
        let Ok(uid) = Uid::try_from(uid) else { break };
        let Some(l) = state.miners.get(&uid) else {
            continue;
        };
        let Some(coldkey) = state.owners.get(&l.hotkey) else {
            continue;
        };
        w.emissions.push(Emission {
            uid,
            hotkey: l.hotkey,
            coldkey: *coldkey,
            amount: *amount,
            permit: l.permit,
        });
    }
}
