//! Subnet state at a given block, in our own types: the block itself (header, runtime version,
//! timestamp, decoded events, whether the epoch ran), neurons, owners, held stake and axons.
//! Every read of many keys is batched (`state_queryStorageAt` in chunks), so a 4,096-uid
//! snapshot costs a handful of round trips.

use std::collections::{BTreeMap, BTreeSet};

use subxt::ext::scale_value::Composite;
use subxt::utils::H256;

use super::client::{BlockRef, ChainClient, ChainError, Reader};
use super::events::ChainEvent;
use super::schedule;
use super::share_pool::{self, Layout, SafeFloat, Shares};
use super::types::{AccountId, NetUid, Rao, Uid};

const M: &str = "SubtensorModule";

/// What one finalized block says, independent of anything tenure already knows.
#[derive(Debug, Clone)]
pub struct BlockData {
    pub number: u64,
    pub hash: [u8; 32],
    pub parent_hash: [u8; 32],
    pub spec_version: u32,
    /// `Timestamp.Now`, ms since the Unix epoch.
    pub timestamp_ms: u64,
    pub events: Vec<ChainEvent>,
    /// Present when the subnet's epoch ran in this block (`LastMechansimStepBlock == number`).
    pub epoch: Option<Epoch>,
}

/// The subnet at an epoch block.
#[derive(Debug, Clone)]
pub struct Epoch {
    pub tempo: u16,
    /// `SubnetEpochIndex` where the runtime has it, else the legacy formula.
    pub index: u64,
    /// `Emission[netuid]`: alpha emitted to each uid in this epoch, by uid.
    pub emissions: Vec<Rao>,
    pub neurons: Vec<Neuron>,
}

/// A uid slot and its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neuron {
    pub uid: Uid,
    pub hotkey: AccountId,
    pub registered_at: u64,
    pub validator_permit: bool,
}

/// Alpha a coldkey holds on a hotkey in the subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    pub coldkey: AccountId,
    pub hotkey: AccountId,
    pub alpha: Rao,
}

/// Stake as read: for each coldkey, the hotkeys it stakes to (`StakingHotkeys`), and the alpha
/// of every pair read.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub staking: BTreeMap<AccountId, Vec<AccountId>>,
    pub alpha: BTreeMap<(AccountId, AccountId), Rao>,
}

impl Holding {
    /// Alpha by (coldkey, hotkey) as holdings, in pair order.
    pub fn all(pairs: BTreeMap<(AccountId, AccountId), Rao>) -> Vec<Holding> {
        pairs
            .into_iter()
            .map(|((coldkey, hotkey), alpha)| Holding {
                coldkey,
                hotkey,
                alpha,
            })
            .collect()
    }
}

/// A served axon (`Axons[(netuid, hotkey)]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axon {
    pub ip: std::net::IpAddr,
    pub port: u16,
    pub block: u64,
}

type RawAxon = (u64, u32, u128, u16, u8, u8, u8, u8);

impl ChainClient {
    /// Header, runtime version, timestamp, events and — at an epoch block — the epoch's data.
    pub async fn block_data(
        &self,
        block: BlockRef,
        netuid: NetUid,
    ) -> Result<BlockData, ChainError> {
        // The header and the block's state are read at once: their round trips overlap.
        let body = self.at(block, |r| async move { body(&r, netuid).await });
        let (parent_hash, body) = futures::future::try_join(self.parent_hash(block), body).await?;
        Ok(body.into_data(block, parent_hash))
    }

    /// The parent hash of `block` (its header).
    pub async fn parent_hash(&self, block: BlockRef) -> Result<[u8; 32], ChainError> {
        self.call("chain_getHeader", |c| async move {
            c.rpc
                .chain_get_header(Some(H256(block.hash)))
                .await
                .map_err(|e| ChainError::Rpc {
                    what: "chain_getHeader".into(),
                    reason: e.to_string(),
                })?
                .ok_or(ChainError::UnknownBlock(block.number))
                .map(|h| h.parent_hash.0)
        })
        .await
    }

    /// The next block after `block` in which the subnet's epoch is planned to run: on
    /// dynamic-tempo runtimes `LastEpochBlock + tempo`, or an earlier owner-triggered
    /// `PendingEpochAt`; the legacy formula otherwise. `None` for tempo 0. A plan for
    /// submissions only: whether an epoch ran is read from `LastMechansimStepBlock`.
    pub async fn next_epoch(
        &self,
        block: BlockRef,
        netuid: NetUid,
    ) -> Result<Option<u64>, ChainError> {
        self.at(block, |r| async move {
            let tempo: u16 = r.get(M, "Tempo", (netuid,)).await?;
            r.next_epoch(netuid, tempo).await
        })
        .await
    }

    /// Every uid of the subnet with its hotkey, registration block and validator permit.
    pub async fn neuron_snapshot(
        &self,
        block: BlockRef,
        netuid: NetUid,
    ) -> Result<Vec<Neuron>, ChainError> {
        self.at(block, |r| async move { neurons(&r, netuid).await })
            .await
    }

    /// `Owner(hotkey)` of each hotkey, in order.
    pub async fn owners(
        &self,
        block: BlockRef,
        hotkeys: Vec<AccountId>,
    ) -> Result<Vec<AccountId>, ChainError> {
        let hotkeys = &hotkeys;
        self.at(block, |r| async move { owners_at(&r, hotkeys).await })
            .await
    }

    /// `Owner(hotkey)` of `hotkeys` through the consecutive blocks `blocks`, in one
    /// `state_queryStorage` per 512 keys: for each block, the hotkeys whose owner changed in it
    /// (every hotkey at the first block). `None` when the node does not serve the range query
    /// (public nodes refuse it as unsafe): the caller reads block by block.
    pub async fn owner_changes(
        &self,
        blocks: &[BlockRef],
        hotkeys: &[AccountId],
    ) -> Result<Option<Vec<Vec<(AccountId, AccountId)>>>, ChainError> {
        use std::sync::atomic::Ordering;
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return Ok(Some(Vec::new()));
        };
        if self.range_refused.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let read = self
            .at(*last, |r| async move {
                range_changes(&r, blocks, hotkeys).await
            })
            .await;
        match read {
            Err(ChainError::Rpc { reason, .. }) if refuses_range(&reason) => {
                tracing::info!(reason = %reason, "the node does not serve state_queryStorage; owners are read block by block");
                self.range_refused.store(true, Ordering::Relaxed);
                Ok(None)
            }
            // The range starts at `first`: that is the block whose state is gone.
            Err(ChainError::StatePruned { reason, .. }) => Err(ChainError::StatePruned {
                block: first.number,
                reason,
            }),
            other => other.map(Some),
        }
    }

    /// What each of `coldkeys` holds in the subnet on every hotkey it stakes to
    /// (`StakingHotkeys`), plus the pairs in `also` (hotkeys a coldkey held before and may
    /// have left). Pairs holding nothing are included, as 0.
    pub async fn holdings(
        &self,
        block: BlockRef,
        netuid: NetUid,
        coldkeys: Vec<AccountId>,
        also: Vec<(AccountId, AccountId)>,
    ) -> Result<Vec<Holding>, ChainError> {
        let held = self.staked(block, netuid, coldkeys, also).await?;
        Ok(Holding::all(held.alpha))
    }

    /// [`Self::holdings`] keeping each coldkey's staking hotkeys apart from the pairs.
    pub async fn staked(
        &self,
        block: BlockRef,
        netuid: NetUid,
        coldkeys: Vec<AccountId>,
        also: Vec<(AccountId, AccountId)>,
    ) -> Result<Held, ChainError> {
        let (coldkeys, also) = (&coldkeys, &also);
        self.at(block, |r| async move {
            staked_at(&r, netuid, coldkeys, also).await
        })
        .await
    }

    /// The axons served by `hotkeys` (None: never served).
    pub async fn axons(
        &self,
        block: BlockRef,
        netuid: NetUid,
        hotkeys: Vec<AccountId>,
    ) -> Result<Vec<Option<Axon>>, ChainError> {
        let hotkeys = &hotkeys;
        self.at(block, |r| async move {
            let keys = hotkeys.iter().map(|h| (netuid, h.0)).collect();
            let raw: Vec<Option<RawAxon>> = r.many_opt(M, "Axons", keys).await?;
            Ok(raw.into_iter().map(|a| a.map(axon)).collect())
        })
        .await
    }
}

/// A node's answer that it does not serve a method, or not to us.
fn refuses_range(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("method not found") || r.contains("-32601") || r.contains("unsafe")
}

/// [`ChainClient::owner_changes`] with a reader at the range's last block (its metadata builds
/// the keys and decodes the values).
async fn range_changes(
    r: &Reader,
    blocks: &[BlockRef],
    hotkeys: &[AccountId],
) -> Result<Vec<Vec<(AccountId, AccountId)>>, ChainError> {
    let (first, last) = (blocks[0], blocks[blocks.len() - 1]);
    let index: std::collections::HashMap<[u8; 32], usize> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.hash, i))
        .collect();
    let keys = hotkeys
        .iter()
        .map(|h| r.raw_key::<_, [u8; 32]>(M, "Owner", (h.0,)))
        .collect::<Result<Vec<_>, _>>()?;
    let by_key: std::collections::HashMap<&[u8], AccountId> = keys
        .iter()
        .zip(hotkeys)
        .map(|(k, h)| (&k[..], *h))
        .collect();
    let answers = futures::future::try_join_all(keys.chunks(512).map(|chunk| {
        r.rpc.state_query_storage(
            chunk.iter().map(|k| &k[..]),
            H256(first.hash),
            Some(H256(last.hash)),
        )
    }))
    .await
    .map_err(|e| ChainError::Rpc {
        what: "state_queryStorage".into(),
        reason: e.to_string(),
    })?;
    let mut out = vec![Vec::new(); blocks.len()];
    for set in answers.into_iter().flatten() {
        let i = *index.get(&set.block.0).ok_or_else(|| ChainError::Rpc {
            what: "state_queryStorage".into(),
            reason: format!(
                "a change in block {:?}, outside the range asked for",
                set.block
            ),
        })?;
        for (key, value) in set.changes {
            let Some(h) = by_key.get(&key.0[..]) else {
                continue;
            };
            let owner: [u8; 32] =
                r.decode_raw::<([u8; 32],), [u8; 32]>(M, "Owner", value.map(|v| v.0))?;
            out[i].push((*h, AccountId(owner)));
        }
    }
    Ok(out)
}

fn axon((block, _version, ip, port, ip_type, ..): RawAxon) -> Axon {
    let ip = if ip_type == 6 {
        std::net::IpAddr::V6(std::net::Ipv6Addr::from(ip))
    } else {
        std::net::IpAddr::V4(std::net::Ipv4Addr::from(ip as u32))
    };
    Axon { ip, port, block }
}

/// A block's own state: what [`BlockData`] holds besides the header.
pub(crate) struct Body {
    spec_version: u32,
    timestamp_ms: u64,
    pub events: Vec<ChainEvent>,
    pub epoch: Option<Epoch>,
}

impl Body {
    pub(crate) fn into_data(self, block: BlockRef, parent_hash: [u8; 32]) -> BlockData {
        BlockData {
            number: block.number,
            hash: block.hash,
            parent_hash,
            spec_version: self.spec_version,
            timestamp_ms: self.timestamp_ms,
            events: self.events,
            epoch: self.epoch,
        }
    }
}

/// Timestamp, events and (at an epoch block) the epoch, at the reader's block.
pub(crate) async fn body(r: &Reader, netuid: NetUid) -> Result<Body, ChainError> {
    // Timestamp, events and the epoch marker in one round trip.
    let keys = [
        r.raw_key::<(), u64>("Timestamp", "Now", ())?,
        r.raw_key::<(), ()>("System", "Events", ())?,
        r.raw_key::<_, u64>(M, "LastMechansimStepBlock", (netuid,))?,
    ];
    let mut values = r.raw_many(&keys).await?.into_iter();
    let mut next = || values.next().flatten();
    let timestamp_ms: u64 = r.decode_raw::<(), u64>("Timestamp", "Now", next())?;
    let events = events(r, next().unwrap_or_default())?;
    let last_step: u64 = r.decode_raw::<(u16,), u64>(M, "LastMechansimStepBlock", next())?;
    let epoch = if last_step == r.block.number {
        Some(epoch(r, netuid).await?)
    } else {
        None
    };
    Ok(Body {
        spec_version: r.spec_version(),
        timestamp_ms,
        events,
        epoch,
    })
}

/// `Owner(hotkey)` of each hotkey at the reader's block, in order.
pub(crate) async fn owners_at(
    r: &Reader,
    hotkeys: &[AccountId],
) -> Result<Vec<AccountId>, ChainError> {
    let keys = hotkeys.iter().map(|h| (h.0,)).collect();
    let owners: Vec<[u8; 32]> = r.many(M, "Owner", keys).await?;
    Ok(owners.into_iter().map(AccountId).collect())
}

/// [`ChainClient::staked`] at the reader's block.
pub(crate) async fn staked_at(
    r: &Reader,
    netuid: NetUid,
    coldkeys: &[AccountId],
    also: &[(AccountId, AccountId)],
) -> Result<Held, ChainError> {
    let keys = coldkeys.iter().map(|c| (c.0,)).collect();
    let staking: Vec<Vec<[u8; 32]>> = r.many(M, "StakingHotkeys", keys).await?;
    let mut pairs: BTreeSet<(AccountId, AccountId)> = also.iter().copied().collect();
    let mut by_coldkey = BTreeMap::new();
    for (c, hotkeys) in coldkeys.iter().zip(staking) {
        let hotkeys: Vec<AccountId> = hotkeys.into_iter().map(AccountId).collect();
        pairs.extend(hotkeys.iter().map(|h| (*c, *h)));
        by_coldkey.insert(*c, hotkeys);
    }
    let pairs: Vec<_> = pairs.into_iter().collect();
    let alphas = alpha(r, netuid, &pairs).await?;
    Ok(Held {
        staking: by_coldkey,
        alpha: pairs.into_iter().zip(alphas).collect(),
    })
}

/// The block's events from the raw `System.Events` value (empty when absent).
fn events(r: &Reader, bytes: Vec<u8>) -> Result<Vec<ChainEvent>, ChainError> {
    let block = r.block.number;
    let decode = |reason: String| ChainError::Decode {
        item: "System.Events".into(),
        block,
        reason,
    };
    let events = r.at.events().from_bytes(bytes);
    let mut out = Vec::new();
    for ev in events.iter() {
        let ev = ev.map_err(|e| decode(e.to_string()))?;
        let fields: Composite<()> = ev
            .decode_fields_unchecked_as()
            .map_err(|e| decode(e.to_string()))?;
        out.push(ChainEvent::decode(
            ev.pallet_name(),
            ev.event_name(),
            fields,
            block,
        )?);
    }
    Ok(out)
}

async fn epoch(r: &Reader, netuid: NetUid) -> Result<Epoch, ChainError> {
    // Independent reads at once: over a network their round trips overlap.
    let has_index = r.has(M, "SubnetEpochIndex");
    let index = async {
        if has_index {
            r.get::<_, u64>(M, "SubnetEpochIndex", (netuid,))
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    };
    let (tempo, index, emissions, neurons) = futures::future::try_join4(
        r.get::<_, u16>(M, "Tempo", (netuid,)),
        index,
        r.get::<_, Vec<u64>>(M, "Emission", (netuid,)),
        neurons(r, netuid),
    )
    .await?;
    Ok(Epoch {
        tempo,
        index: index.unwrap_or_else(|| schedule::epoch_index(r.block.number, netuid, tempo)),
        emissions,
        neurons,
    })
}

async fn neurons(r: &Reader, netuid: NetUid) -> Result<Vec<Neuron>, ChainError> {
    let n: u16 = r.get(M, "SubnetworkN", (netuid,)).await?;
    let uids: Vec<Uid> = (0..n).collect();
    let (hotkeys, registered, permits) = futures::future::try_join3(
        r.many::<_, [u8; 32]>(M, "Keys", uids.iter().map(|u| (netuid, *u)).collect()),
        r.many::<_, u64>(
            M,
            "BlockAtRegistration",
            uids.iter().map(|u| (netuid, *u)).collect(),
        ),
        r.get::<_, Vec<bool>>(M, "ValidatorPermit", (netuid,)),
    )
    .await?;
    Ok(uids
        .into_iter()
        .zip(hotkeys)
        .zip(registered)
        .map(|((uid, hotkey), registered_at)| Neuron {
            uid,
            hotkey: AccountId(hotkey),
            registered_at,
            validator_permit: permits.get(usize::from(uid)).copied().unwrap_or(false),
        })
        .collect())
}

/// The share-pool layout of the runtime at this block.
fn layout(r: &Reader) -> Layout {
    if r.has(M, "AlphaV2") {
        Layout::V2
    } else {
        Layout::V1
    }
}

/// Alpha of each (coldkey, hotkey) pair, as the runtime computes it: v1 entries first, then v2
/// (the runtime migrates lazily, so both can exist at once).
async fn alpha(
    r: &Reader,
    netuid: NetUid,
    pairs: &[(AccountId, AccountId)],
) -> Result<Vec<Rao>, ChainError> {
    let layout = layout(r);
    let hotkeys: Vec<AccountId> = pairs
        .iter()
        .map(|(_, h)| *h)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let hk_keys = || hotkeys.iter().map(|h| (h.0, netuid)).collect::<Vec<_>>();
    let pair_keys = || {
        pairs
            .iter()
            .map(|(c, h)| (h.0, c.0, netuid))
            .collect::<Vec<_>>()
    };
    type Floats = Vec<Option<(u128, i64)>>;
    let v2 = async {
        if layout == Layout::V2 {
            futures::future::try_join(
                r.many_opt::<_, (u128, i64)>(M, "TotalHotkeySharesV2", hk_keys()),
                r.many_opt::<_, (u128, i64)>(M, "AlphaV2", pair_keys()),
            )
            .await
        } else {
            let none: (Floats, Floats) = (vec![None; hotkeys.len()], vec![None; pairs.len()]);
            Ok(none)
        }
    };
    let (shared, denom_v1, share_v1, (denom_v2, share_v2)) = futures::future::try_join4(
        r.many::<_, u64>(M, "TotalHotkeyAlpha", hk_keys()),
        r.many_opt::<_, u128>(M, "TotalHotkeyShares", hk_keys()),
        r.many_opt::<_, u128>(M, "Alpha", pair_keys()),
        v2,
    )
    .await?;
    let pick = |v1: Option<u128>, v2: Option<(u128, i64)>| match (v1, v2) {
        (Some(bits), _) => Shares::Fixed(bits),
        (None, Some((mantissa, exponent))) => Shares::Float(SafeFloat { mantissa, exponent }),
        (None, None) => Shares::Fixed(0),
    };
    let pools: BTreeMap<AccountId, (u64, Shares)> = hotkeys
        .iter()
        .enumerate()
        .map(|(i, h)| (*h, (shared[i], pick(denom_v1[i], denom_v2[i]))))
        .collect();
    Ok(pairs
        .iter()
        .enumerate()
        .map(|(i, (_, h))| {
            let (shared, denom) = pools[h];
            share_pool::value(layout, shared, pick(share_v1[i], share_v2[i]), denom)
        })
        .collect())
}

impl Reader {
    /// [`ChainClient::next_epoch`] at this reader's block, the subnet's tempo already read.
    pub(crate) async fn next_epoch(
        &self,
        netuid: NetUid,
        tempo: u16,
    ) -> Result<Option<u64>, ChainError> {
        let block = self.block.number;
        if tempo == 0 {
            return Ok(None);
        }
        if !self.has(M, "LastEpochBlock") {
            return Ok(schedule::next_epoch_block(block, netuid, tempo));
        }
        let last: u64 = self.get(M, "LastEpochBlock", (netuid,)).await?;
        let mut next = last + u64::from(tempo);
        if self.has(M, "PendingEpochAt") {
            let pending: u64 = self.get(M, "PendingEpochAt", (netuid,)).await?;
            if pending > 0 {
                next = next.min(pending);
            }
        }
        // Overdue (deferred by the chain): it runs as soon as it can.
        Ok(Some(next.max(block + 1)))
    }
}
