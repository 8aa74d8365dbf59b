//! The simulated chain: blocks with real Substrate header hashes, one subnet with miners and
//! validators, stake in share pools, epochs by the legacy rule crediting emissions to each
//! miner's owner, and — with `activity` — random stake operations, re-registrations, owner
//! changes and swaps with the real events. Deterministic from the seed; every change is written
//! to the ledger.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;
use subxt::config::substrate::{Digest, SubstrateHeader};
use subxt::ext::codec::{Decode, Encode};
use subxt::ext::frame_decode::storage::IntoEncodableValues;
use subxt::ext::scale_encode::EncodeAsType;
use subxt::ext::scale_value::Value;
use subxt::utils::H256;

use super::axons::Profile;
use super::extrinsic::{self, Checked, Invalid};
use super::ledger::{Ledger, ss58};
use super::metadata::SubtensorError;
use super::pools::{Account, Pool};
use super::scenario::{Action, Scenario};
use super::storage::{Encoder, StorageError, VersionedStorage};
use crate::beacon::{self, Beacon, WeightsTlockPayload};
use crate::pools::Rao;
use crate::schedule;
use crate::share_pool::{self, Layout};

type NetUid = u16;
/// RAO per alpha.
const RAO_PER_UNIT: Rao = 1_000_000_000;

/// Simulated chain time per block: 12 s, whatever the real block interval, so chain days and
/// hours mean the same as on the real chain.
pub const BLOCK_TIME_MS: u64 = 12_000;
/// Timestamp.Now of block 0 (2026-01-01T00:00:00Z).
pub const GENESIS_TIMESTAMP_MS: u64 = 1_767_225_600_000;
pub const SPEC_NAME: &str = "node-subtensor";

#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    pub netuid: NetUid,
    pub miners: u16,
    pub validators: u16,
    pub tempo: u16,
    /// Blocks between the best block and the finalized one.
    pub finality_lag: u64,
    pub spec_version: u32,
    /// Percent of blocks (0–100) with a random stake, registration or ownership change.
    pub activity: u8,
    pub hyper: Hyper,
    /// Per uid: the port of its axon on 127.0.0.1 and its uptime profile (empty: no axons).
    pub axons: Vec<(u16, Profile)>,
    /// Scripted actions by block (consumed as blocks are produced).
    pub scenario: Scenario,
}

/// The arguments of a weight setting (plain, or a revealed commit's payload).
#[derive(Debug, Clone)]
struct WeightsArgs {
    netuid: NetUid,
    mecid: u8,
    dests: Vec<u16>,
    weights: Vec<u16>,
    version_key: u64,
}

/// A uid slot and who holds it now.
#[derive(Debug, Clone)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: Account,
    pub registered_at: u64,
    pub validator: bool,
}

#[derive(Debug, Clone)]
pub struct Block {
    pub header: SubstrateHeader<H256>,
    pub hash: H256,
    /// Opaque extrinsics (with their length prefixes), in order.
    pub extrinsics: Vec<Vec<u8>>,
}

/// Weight-setting hyperparameters of the devnet's subnet.
#[derive(Debug, Clone)]
pub struct Hyper {
    pub rate_limit: u64,
    pub version_key: u64,
    pub min_allowed_weights: u16,
    pub commit_reveal: bool,
    pub reveal_period: u64,
    /// Commits made in this epoch are never revealed (a fault).
    pub drop_reveal_at: Option<u64>,
}

/// A timelocked weight commit waiting for its reveal epoch.
#[derive(Debug, Clone)]
struct Commit {
    who: Account,
    /// Netuid storage index (netuid + mechanism).
    index: u16,
    mecid: u8,
    /// Epoch index the commit was made in (legacy formula).
    epoch: u64,
    block: u64,
    bytes: Vec<u8>,
    reveal_round: u64,
}

/// At most this many unrevealed commits per hotkey and epoch (the chain's limit).
const MAX_UNREVEALED_COMMITS: usize = 10;
/// `CommitRevealWeightsVersion`: the timelocked (drand) scheme.
pub const COMMIT_REVEAL_VERSION: u16 = 4;

/// A small deterministic generator (splitmix64): the devnet's only source of randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// An index in `0..n` (n > 0).
    pub fn pick(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A 32-byte account derived from the seed and a label (not a key pair).
pub fn account(seed: u64, label: &str) -> Account {
    sp_crypto_hashing::blake2_256(format!("tenure-devnet/{seed}/{label}").as_bytes())
}

/// The sr25519 mini-secret (a wallet's `secretSeed`) of validator `uid`: validators sign.
pub fn validator_secret(seed: u64, uid: u16) -> [u8; 32] {
    account(seed, &format!("validator-secret/{uid}"))
}

/// The public key of a mini-secret, expanded as Substrate's `sr25519::Pair::from_seed` does.
pub fn sr25519_public(secret: &[u8; 32]) -> Account {
    match schnorrkel::MiniSecretKey::from_bytes(secret) {
        Ok(mini) => mini
            .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519)
            .public
            .to_bytes(),
        // 32 bytes always make a mini-secret key.
        Err(_) => [0; 32],
    }
}

fn acct(a: &Account) -> Value {
    Value::unnamed_composite([Value::from_bytes(a)])
}

/// A whole number of shares as the runtime's `SafeFloat`.
fn safe_float(n: u64) -> Value {
    let (mantissa, exponent) = share_pool::decimal(n);
    Value::named_composite([
        ("mantissa", Value::u128(mantissa)),
        ("exponent", Value::i128(i128::from(exponent))),
    ])
}

fn uint(v: impl Into<u128>) -> Value {
    Value::u128(v.into())
}

/// A runtime the chain ran from block `from` on.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub from: u64,
    pub spec_version: u32,
    /// The newest `RuntimeMetadataPrefixed` bytes (what the chain's storage is encoded against).
    pub metadata_bytes: Vec<u8>,
    /// Every version a node serves of the same metadata (V14 and V15 derived from V16).
    pub metadata: crate::metadata_versions::Versions,
}

impl Runtime {
    fn new(from: u64, spec_version: u32, metadata_bytes: Vec<u8>) -> Result<Self> {
        let metadata = crate::metadata_versions::versions(&metadata_bytes)
            .map_err(|e| StorageError::Metadata(format!("{e:#}")))?;
        Ok(Runtime {
            from,
            spec_version,
            metadata,
            metadata_bytes,
        })
    }

    /// What `state_getMetadata` and `Metadata_metadata` answer: the oldest version (V14 on a
    /// current node).
    pub fn default_metadata(&self) -> &[u8] {
        self.metadata
            .values()
            .next()
            .map_or(&self.metadata_bytes[..], |b| &b[..])
    }
}

pub struct Chain {
    pub params: Params,
    /// Encodes storage with the current runtime's metadata.
    pub encoder: Encoder,
    /// Every runtime so far, oldest first.
    pub runtimes: Vec<Runtime>,
    pub storage: VersionedStorage,
    pub blocks: Vec<Block>,
    by_hash: HashMap<H256, u64>,
    pub finalized: u64,
    pub neurons: Vec<Neuron>,
    /// Owner(hotkey), for every hotkey ever registered.
    pub owners: BTreeMap<Account, Account>,
    pub pools: BTreeMap<Account, Pool>,
    /// Hotkeys each coldkey has stake on (StakingHotkeys).
    pub staking: BTreeMap<Account, BTreeSet<Account>>,
    /// The last alpha the ledger reported per (coldkey, hotkey).
    held: BTreeMap<(Account, Account), Rao>,
    /// Pairs whose alpha may have changed in the block being built.
    touched: BTreeSet<(Account, Account)>,
    pub ledger: Ledger,
    fresh: u64,
    rng: Rng,
    /// Events of the block being built, with their phase.
    events: Vec<(Value, Value)>,
    nonces: BTreeMap<Account, u32>,
    /// Extrinsics of the block being built.
    body: Vec<Vec<u8>>,
    /// LastUpdate per netuid storage index.
    last_update: BTreeMap<u16, Vec<u64>>,
    /// Verified transactions waiting for the next block.
    pub pool: Vec<(Checked, Vec<u8>)>,
    /// Whether each uid's axon is open now.
    axon_up: Vec<bool>,
    /// The drand beacon the devnet plays for commit-reveal.
    pub beacon: Beacon,
    /// Timelocked commits not revealed yet, oldest first.
    commits: Vec<Commit>,
    /// Axons to open (true) or close (false) since the producer last looked.
    pub axon_changes: Vec<(u16, bool)>,
    /// The share-pool layout of the current runtime (v2 once `AlphaV2` exists).
    pub layout: Layout,
    /// Dynamic tempo (once `LastEpochBlock` exists): (last epoch block, epoch index). Epochs
    /// then run `tempo` blocks apart, as on newer runtimes, instead of `tempo + 1`.
    pub dynamic: Option<(u64, u64)>,
}

type Result<T> = std::result::Result<T, StorageError>;

impl Chain {
    /// The genesis block (0) with the subnet registered and staked.
    pub fn new(
        params: Params,
        metadata_bytes: Vec<u8>,
        metadata: subxt::Metadata,
        ledger: Ledger,
    ) -> Result<Self> {
        let rng = Rng::new(params.seed);
        let beacon = Beacon::from_seed(params.seed);
        let spec_version = params.spec_version;
        let mut chain = Chain {
            params,
            encoder: Encoder { metadata },
            runtimes: vec![Runtime::new(0, spec_version, metadata_bytes)?],
            storage: VersionedStorage::default(),
            blocks: Vec::new(),
            by_hash: HashMap::new(),
            finalized: 0,
            neurons: Vec::new(),
            owners: BTreeMap::new(),
            pools: BTreeMap::new(),
            staking: BTreeMap::new(),
            held: BTreeMap::new(),
            touched: BTreeSet::new(),
            ledger,
            fresh: 0,
            rng,
            events: Vec::new(),
            nonces: BTreeMap::new(),
            body: Vec::new(),
            last_update: BTreeMap::new(),
            pool: Vec::new(),
            axon_up: Vec::new(),
            axon_changes: Vec::new(),
            beacon,
            commits: Vec::new(),
            layout: Layout::V1,
            dynamic: None,
        };
        chain.genesis()?;
        Ok(chain)
    }

    /// The runtime of block `b`.
    pub fn runtime_at(&self, b: u64) -> &Runtime {
        let i = self.runtimes.partition_point(|r| r.from <= b);
        &self.runtimes[i.saturating_sub(1)]
    }

    /// The current runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtimes[self.runtimes.len() - 1]
    }

    /// A runtime upgrade taking effect from the next block: spec_version + 1 and new metadata
    /// (`None`: the same metadata under the new version).
    pub fn upgrade(&mut self, metadata_bytes: Option<Vec<u8>>) -> std::result::Result<u32, String> {
        let current = self.runtime().clone();
        let bytes = metadata_bytes.unwrap_or(current.metadata_bytes);
        let metadata = subxt::Metadata::decode_from(&bytes[..]).map_err(|e| e.to_string())?;
        self.encoder = Encoder { metadata };
        if self.encoder.has("SubtensorModule", "AlphaV2") && self.layout == Layout::V1 {
            // The runtime's arithmetic changes with the layout: balances may move by a RAO
            // without any stake event, and the ledger must say so.
            self.layout = Layout::V2;
            self.touched.extend(
                self.pools
                    .iter()
                    .flat_map(|(h, p)| p.shares.keys().map(|c| (*c, *h))),
            );
        }
        if self.encoder.has("SubtensorModule", "LastEpochBlock") && self.dynamic.is_none() {
            // As the runtime's migration does: the legacy schedule's last epoch continues.
            let (netuid, tempo) = (self.params.netuid, self.params.tempo);
            let last = (0..=self.best())
                .rev()
                .find(|b| schedule::epoch_runs_at(*b, netuid, tempo))
                .unwrap_or(0);
            self.dynamic = Some((last, schedule::epoch_index(last, netuid, tempo)));
        }
        let spec_version = current.spec_version + 1;
        self.runtimes
            .push(Runtime::new(self.best() + 1, spec_version, bytes).map_err(|e| e.to_string())?);
        Ok(spec_version)
    }

    pub fn best(&self) -> u64 {
        (self.blocks.len() - 1) as u64
    }

    /// The current owner of `hotkey` (zero account if unknown, as the chain's ValueQuery).
    pub fn owner(&self, hotkey: &Account) -> Account {
        self.owners.get(hotkey).copied().unwrap_or([0; 32])
    }

    /// Alpha `coldkey` holds on `hotkey` now.
    pub fn alpha(&self, coldkey: &Account, hotkey: &Account) -> Rao {
        self.pools
            .get(hotkey)
            .map_or(0, |p| p.alpha_of(coldkey, self.layout))
    }

    fn set(
        &mut self,
        block: u64,
        pallet: &str,
        entry: &str,
        keys: impl IntoEncodableValues,
        value: &impl EncodeAsType,
    ) -> Result<()> {
        let key = self.encoder.key(pallet, entry, keys)?;
        let value = self.encoder.value(pallet, entry, value)?;
        self.storage.set_raw(block, key, Some(value));
        Ok(())
    }

    fn remove(
        &mut self,
        block: u64,
        pallet: &str,
        entry: &str,
        keys: impl IntoEncodableValues,
    ) -> Result<()> {
        let key = self.encoder.key(pallet, entry, keys)?;
        self.storage.set_raw(block, key, None);
        Ok(())
    }

    fn fresh_account(&mut self, what: &str) -> Account {
        self.fresh += 1;
        account(self.params.seed, &format!("{what}/fresh/{}", self.fresh))
    }

    fn genesis(&mut self) -> Result<()> {
        let (netuid, tempo) = (self.params.netuid, self.params.tempo);
        self.set(0, "SubtensorModule", "Tempo", (netuid,), &tempo)?;
        self.set(0, "SubtensorModule", "NetworksAdded", (netuid,), &true)?;
        if self.encoder.has("SubtensorModule", "TokenSymbol") {
            // The subnet's token symbol, as the runtime gives it (alpha).
            let symbol = "\u{3b1}".as_bytes().to_vec();
            self.set(0, "SubtensorModule", "TokenSymbol", (netuid,), &symbol)?;
        }
        self.write_hyperparameters()?;
        let n = self.params.miners + self.params.validators;
        self.set(0, "SubtensorModule", "SubnetworkN", (netuid,), &n)?;
        for uid in 0..n {
            let validator = uid < self.params.validators;
            let hotkey = if validator {
                sr25519_public(&validator_secret(self.params.seed, uid))
            } else {
                account(self.params.seed, &format!("hotkey/{uid}"))
            };
            let coldkey = account(self.params.seed, &format!("coldkey/{uid}"));
            self.neurons.push(Neuron {
                uid,
                hotkey,
                registered_at: 0,
                validator,
            });
            self.register_state(0, uid, hotkey, coldkey)?;
            let stake = if validator {
                self.rng.range(10_000, 50_000)
            } else {
                self.rng.range(0, 1_000)
            } * RAO_PER_UNIT;
            if stake > 0 {
                self.pool_add(0, coldkey, hotkey, stake)?;
            }
        }
        self.axon_up = vec![false; self.params.axons.len()];
        self.update_axons(0);
        let permits: Vec<bool> = self.neurons.iter().map(|x| x.validator).collect();
        self.set(0, "SubtensorModule", "ValidatorPermit", (netuid,), &permits)?;
        self.finish_block(0)
    }

    /// The weight-setting hyperparameters, as the daemon reads them.
    fn write_hyperparameters(&mut self) -> Result<()> {
        let (netuid, h) = (self.params.netuid, self.params.hyper.clone());
        let m = "SubtensorModule";
        self.set(0, m, "WeightsSetRateLimit", (netuid,), &h.rate_limit)?;
        self.set(0, m, "WeightsVersionKey", (netuid,), &h.version_key)?;
        self.set(0, m, "MinAllowedWeights", (netuid,), &h.min_allowed_weights)?;
        self.set(
            0,
            m,
            "CommitRevealWeightsEnabled",
            (netuid,),
            &h.commit_reveal,
        )?;
        self.set(0, m, "RevealPeriodEpochs", (netuid,), &h.reveal_period)?;
        self.set(
            0,
            m,
            "CommitRevealWeightsVersion",
            (),
            &COMMIT_REVEAL_VERSION,
        )?;
        self.set(0, m, "MaxWeightsLimit", (netuid,), &u16::MAX)?;
        self.set(0, m, "MechanismCountCurrent", (netuid,), &1u8)
    }

    /// Keys, Uids, Owner, OwnedHotkeys and BlockAtRegistration of a uid given to `hotkey`.
    fn register_state(
        &mut self,
        b: u64,
        uid: u16,
        hotkey: Account,
        coldkey: Account,
    ) -> Result<()> {
        let netuid = self.params.netuid;
        self.set(b, "SubtensorModule", "Keys", (netuid, uid), &hotkey)?;
        self.set(b, "SubtensorModule", "Uids", (netuid, hotkey), &uid)?;
        self.set(
            b,
            "SubtensorModule",
            "BlockAtRegistration",
            (netuid, uid),
            &b,
        )?;
        self.set_owner(b, hotkey, coldkey)?;
        self.write_axon(b, uid, hotkey)?;
        self.ledger.record(
            b,
            "registered",
            json!({ "uid": uid, "hotkey": ss58(&hotkey), "coldkey": ss58(&coldkey) }),
        );
        Ok(())
    }

    /// Axons of `hotkey`, serving uid's port on 127.0.0.1 (when axons are on).
    fn write_axon(&mut self, b: u64, uid: u16, hotkey: Account) -> Result<()> {
        let Some((port, _)) = self.params.axons.get(usize::from(uid)).copied() else {
            return Ok(());
        };
        let axon = Value::named_composite([
            ("block", uint(b)),
            ("version", uint(1u8)),
            ("ip", uint(super::axons::LOOPBACK_IP)),
            ("port", uint(port)),
            ("ip_type", uint(4u8)),
            ("protocol", uint(4u8)),
            ("placeholder1", uint(0u8)),
            ("placeholder2", uint(0u8)),
        ]);
        let netuid = self.params.netuid;
        self.set(b, "SubtensorModule", "Axons", (netuid, hotkey), &axon)
    }

    /// HotkeySwapped: uid, stake, owner and axon move from `old` to `new`.
    fn swap_hotkey(&mut self, b: u64, uid: u16, old: Account, new: Account) -> Result<()> {
        let netuid = self.params.netuid;
        let owner = self.owner(&old);
        self.neurons[usize::from(uid)].hotkey = new;
        self.set(b, "SubtensorModule", "Keys", (netuid, uid), &new)?;
        self.remove(b, "SubtensorModule", "Uids", (netuid, old))?;
        self.set(b, "SubtensorModule", "Uids", (netuid, new), &uid)?;
        self.set_owner(b, new, owner)?;
        self.remove(b, "SubtensorModule", "Axons", (netuid, old))?;
        self.write_axon(b, uid, new)?;
        let pool = self.pools.remove(&old).unwrap_or_default();
        let stakers: Vec<Account> = pool.shares.keys().copied().collect();
        self.pools.insert(new, pool);
        self.write_pool(b, old, &stakers)?;
        self.write_pool(b, new, &stakers)?;
        self.push_event(Value::unnamed_variant(
            "SubtensorModule",
            [Value::named_variant(
                "HotkeySwapped",
                [
                    ("coldkey", acct(&owner)),
                    ("old_hotkey", acct(&old)),
                    ("new_hotkey", acct(&new)),
                ],
            )],
        ));
        self.ledger.record(
            b,
            "hotkey_swapped",
            json!({ "uid": uid, "coldkey": ss58(&owner), "from": ss58(&old), "to": ss58(&new) }),
        );
        Ok(())
    }

    fn set_owner(&mut self, b: u64, hotkey: Account, coldkey: Account) -> Result<()> {
        if let Some(old) = self.owners.insert(hotkey, coldkey)
            && old != coldkey
        {
            self.write_owned(b, old)?;
        }
        self.set(b, "SubtensorModule", "Owner", (hotkey,), &coldkey)?;
        self.write_owned(b, coldkey)
    }

    /// Hotkeys `coldkey` owns now.
    fn owned_by(&self, coldkey: &Account) -> Vec<Account> {
        self.owners
            .iter()
            .filter(|(_, c)| *c == coldkey)
            .map(|(h, _)| *h)
            .collect()
    }

    fn write_owned(&mut self, b: u64, coldkey: Account) -> Result<()> {
        let owned = self.owned_by(&coldkey);
        self.set(b, "SubtensorModule", "OwnedHotkeys", (coldkey,), &owned)
    }

    /// Writes a pool's storage and ledgers every staker whose alpha changed. In the v2 layout
    /// shares are written as `SafeFloat` and the v1 entries removed, as the runtime migrates
    /// lazily on write.
    fn write_pool(&mut self, b: u64, hotkey: Account, touched: &[Account]) -> Result<()> {
        let (netuid, m) = (self.params.netuid, "SubtensorModule");
        let pool = self.pools.get(&hotkey).cloned().unwrap_or_default();
        self.set(
            b,
            m,
            "TotalHotkeyAlpha",
            (hotkey, netuid),
            &pool.total_alpha,
        )?;
        match self.layout {
            Layout::V1 => self.set(
                b,
                m,
                "TotalHotkeyShares",
                (hotkey, netuid),
                &(u128::from(pool.total_shares) << 64),
            )?,
            Layout::V2 => {
                self.remove(b, m, "TotalHotkeyShares", (hotkey, netuid))?;
                let total = safe_float(pool.total_shares);
                self.set(b, m, "TotalHotkeySharesV2", (hotkey, netuid), &total)?;
            }
        }
        for c in touched {
            let key = (hotkey, *c, netuid);
            match (pool.shares.get(c), self.layout) {
                (Some(s), Layout::V1) => self.set(b, m, "Alpha", key, &(u128::from(*s) << 64))?,
                (Some(s), Layout::V2) => {
                    self.remove(b, m, "Alpha", key)?;
                    self.set(b, m, "AlphaV2", key, &safe_float(*s))?;
                }
                (None, Layout::V1) => self.remove(b, m, "Alpha", key)?,
                (None, Layout::V2) => {
                    self.remove(b, m, "Alpha", key)?;
                    self.remove(b, m, "AlphaV2", key)?;
                }
            }
            let hotkeys = self.staking.entry(*c).or_default();
            if pool.shares.contains_key(c) {
                hotkeys.insert(hotkey);
            } else {
                hotkeys.remove(&hotkey);
            }
            let list: Vec<Account> = hotkeys.iter().copied().collect();
            self.set(b, "SubtensorModule", "StakingHotkeys", (*c,), &list)?;
        }
        // Rounding moves other stakers' alpha by a RAO now and then: they are touched too.
        self.touched.extend(
            pool.shares
                .keys()
                .chain(touched.iter())
                .map(|c| (*c, hotkey)),
        );
        Ok(())
    }

    /// Ledgers the end-of-block alpha of every (coldkey, hotkey) touched in block `b` whose
    /// alpha changed: what a reader of the chain at `b` sees.
    fn ledger_stake_changes(&mut self, b: u64) {
        for (c, h) in std::mem::take(&mut self.touched) {
            let now = self.alpha(&c, &h);
            let before = self.held.get(&(c, h)).copied().unwrap_or(0);
            if now != before {
                self.held.insert((c, h), now);
                self.ledger.record(
                    b,
                    "stake",
                    json!({ "coldkey": ss58(&c), "hotkey": ss58(&h), "alpha": now }),
                );
            }
        }
    }

    fn pool_add(&mut self, b: u64, coldkey: Account, hotkey: Account, alpha: Rao) -> Result<()> {
        self.pools.entry(hotkey).or_default().add(coldkey, alpha);
        self.write_pool(b, hotkey, &[coldkey])
    }

    fn pool_remove(
        &mut self,
        b: u64,
        coldkey: Account,
        hotkey: Account,
        alpha: Rao,
    ) -> Result<Rao> {
        let removed = self
            .pools
            .entry(hotkey)
            .or_default()
            .remove(&coldkey, alpha, self.layout);
        self.write_pool(b, hotkey, &[coldkey])?;
        Ok(removed)
    }

    /// Produces the next block; returns its number.
    pub fn produce(&mut self) -> Result<u64> {
        let b = self.best() + 1;
        let txs = std::mem::take(&mut self.pool);
        let mut body = Vec::with_capacity(txs.len());
        for (i, (tx, bytes)) in txs.into_iter().enumerate() {
            self.apply_extrinsic(b, i as u32, tx)?;
            body.push(bytes);
        }
        self.body = body;
        for action in self.params.scenario.remove(&b).unwrap_or_default() {
            self.apply(b, action)?;
        }
        if self.params.activity > 0
            && self.rng.range(1, 100) <= u64::from(self.params.activity)
            && let Some(action) = self.random_action()
        {
            self.apply(b, action)?;
        }
        if self.params.hyper.commit_reveal {
            self.drand_and_reveals(b)?;
        }
        let tempo = self.params.tempo;
        let runs = match self.dynamic {
            Some((last, _)) => tempo != 0 && b - last >= u64::from(tempo),
            None => schedule::epoch_runs_at(b, self.params.netuid, tempo),
        };
        if let Some((last, index)) = self.dynamic
            && self.runtime().from == b
        {
            // The upgrade block: the migration writes where the schedule stands.
            let netuid = self.params.netuid;
            self.set(b, "SubtensorModule", "LastEpochBlock", (netuid,), &last)?;
            self.set(b, "SubtensorModule", "SubnetEpochIndex", (netuid,), &index)?;
        }
        if runs {
            self.epoch(b)?;
        }
        self.update_axons(b);
        self.finish_block(b)?;
        self.finalized = b.saturating_sub(self.params.finality_lag);
        Ok(b)
    }

    /// Opens and closes axons to follow their profiles at block `b`; ledgers every change.
    fn update_axons(&mut self, b: u64) {
        for (uid, (_, profile)) in self.params.axons.iter().enumerate() {
            let up = profile.is_up(b);
            if self.axon_up[uid] != up || b == 0 {
                self.axon_up[uid] = up;
                self.axon_changes.push((uid as u16, up));
                self.ledger.record(
                    b,
                    "axon",
                    json!({
                        "uid": uid,
                        "hotkey": ss58(&self.neurons[uid].hotkey),
                        "profile": profile.name(),
                        "up": up,
                    }),
                );
            }
        }
    }

    /// Emissions: each uid's alpha is staked for the hotkey's owner (as miner incentive is).
    fn epoch(&mut self, b: u64) -> Result<()> {
        let netuid = self.params.netuid;
        let emissions: Vec<Rao> = (0..self.neurons.len())
            .map(|_| self.rng.range(0, 2 * RAO_PER_UNIT))
            .collect();
        for (uid, e) in emissions.iter().enumerate() {
            let hotkey = self.neurons[uid].hotkey;
            let owner = self.owner(&hotkey);
            self.ledger.record(
                b,
                "emission",
                json!({ "uid": uid, "hotkey": ss58(&hotkey), "coldkey": ss58(&owner), "amount": e }),
            );
            if *e > 0 {
                self.pool_add(b, owner, hotkey, *e)?;
            }
        }
        self.set(b, "SubtensorModule", "Emission", (netuid,), &emissions)?;
        self.set(
            b,
            "SubtensorModule",
            "LastMechansimStepBlock",
            (netuid,),
            &b,
        )?;
        // Runtimes with dynamic tempo also record the epoch slot they consumed and count epochs.
        if let Some((_, index)) = self.dynamic {
            self.dynamic = Some((b, index + 1));
            self.set(b, "SubtensorModule", "LastEpochBlock", (netuid,), &b)?;
            self.set(
                b,
                "SubtensorModule",
                "SubnetEpochIndex",
                (netuid,),
                &(index + 1),
            )?;
        }
        self.push_event(Value::unnamed_variant(
            "SubtensorModule",
            [Value::named_variant(
                "IncentiveAlphaEmittedToMiners",
                [
                    ("netuid", uint(netuid)),
                    (
                        "emissions",
                        Value::unnamed_composite(emissions.iter().map(|e| uint(*e))),
                    ),
                ],
            )],
        ));
        Ok(())
    }

    fn subtensor_event(&mut self, name: &str, fields: Vec<Value>) {
        self.push_event(Value::unnamed_variant(
            "SubtensorModule",
            [Value::unnamed_variant(name, fields)],
        ));
    }

    /// An event of block finalization (not of an extrinsic).
    fn push_event(&mut self, event: Value) {
        self.events
            .push((Value::unnamed_variant("Finalization", []), event));
    }

    /// Draws one random action (or none, when the draw makes no sense for the uid).
    fn random_action(&mut self) -> Option<Action> {
        let uid = self.rng.pick(self.neurons.len()) as u16;
        let x = self.neurons[usize::from(uid)].clone();
        let held = self.alpha(&self.owner(&x.hotkey), &x.hotkey);
        Some(match self.rng.range(1, 100) {
            1..=30 => Action::Buy {
                uid,
                alpha: self.rng.range(1, 100) * RAO_PER_UNIT,
            },
            31..=60 if held > 0 => Action::Sell {
                uid,
                alpha: if self.rng.range(1, 6) == 1 {
                    None
                } else {
                    Some(held * self.rng.range(10, 90) / 100)
                },
            },
            61..=75 if held > 0 => {
                let to_uid = self.rng.pick(self.neurons.len()) as u16;
                if to_uid == uid {
                    return None;
                }
                Action::Move {
                    uid,
                    to_uid,
                    alpha: held * self.rng.range(10, 100) / 100,
                }
            }
            76..=82 if !x.validator => Action::Reregister { uid },
            83..=88 if !x.validator => Action::SwapHotkey { uid },
            89..=94 => Action::ChangeOwner { uid },
            95..=100 => Action::SwapColdkey { uid },
            _ => return None,
        })
    }

    /// Applies `action` in block `b` with the real events and ledger lines.
    pub fn apply(&mut self, b: u64, action: Action) -> Result<()> {
        let uid = action.uid();
        let x = self.neurons[usize::from(uid)].clone();
        let owner = self.owner(&x.hotkey);
        match action {
            Action::Buy { alpha, .. } => self.buy(b, owner, x.hotkey, alpha),
            Action::Sell { alpha, .. } => {
                let held = self.alpha(&owner, &x.hotkey);
                self.sell(b, owner, x.hotkey, alpha.unwrap_or(held))
            }
            Action::Move { to_uid, alpha, .. } => {
                let to = self.neurons[usize::from(to_uid)].hotkey;
                self.move_stake(b, owner, x.hotkey, to, alpha)
            }
            Action::Reregister { .. } => self.reregister(b, uid, x.hotkey),
            Action::SwapHotkey { .. } => {
                let new = self.fresh_account("hotkey");
                self.swap_hotkey(b, uid, x.hotkey, new)
            }
            // No event: readers see the change in Owner.
            Action::ChangeOwner { .. } => {
                let to = self.fresh_account("coldkey");
                self.set_owner(b, x.hotkey, to)?;
                self.ledger.record(
                    b,
                    "owner_changed",
                    json!({ "hotkey": ss58(&x.hotkey), "from": ss58(&owner), "to": ss58(&to) }),
                );
                Ok(())
            }
            Action::SwapColdkey { .. } => self.swap_coldkey(b, owner),
        }
    }

    fn buy(&mut self, b: u64, owner: Account, hotkey: Account, alpha: Rao) -> Result<()> {
        let netuid = self.params.netuid;
        self.pool_add(b, owner, hotkey, alpha)?;
        self.subtensor_event(
            "StakeAdded",
            vec![
                acct(&owner),
                acct(&hotkey),
                uint(alpha),
                uint(alpha),
                uint(netuid),
                uint(0u8),
            ],
        );
        self.ledger.record(
            b,
            "stake_added",
            json!({ "coldkey": ss58(&owner), "hotkey": ss58(&hotkey), "alpha": alpha }),
        );
        Ok(())
    }

    fn sell(&mut self, b: u64, owner: Account, hotkey: Account, alpha: Rao) -> Result<()> {
        let netuid = self.params.netuid;
        let removed = self.pool_remove(b, owner, hotkey, alpha)?;
        if removed == 0 {
            return Ok(());
        }
        self.subtensor_event(
            "StakeRemoved",
            vec![
                acct(&owner),
                acct(&hotkey),
                uint(removed),
                uint(removed),
                uint(netuid),
                uint(0u8),
            ],
        );
        self.ledger.record(
            b,
            "stake_removed",
            json!({ "coldkey": ss58(&owner), "hotkey": ss58(&hotkey), "alpha": removed }),
        );
        Ok(())
    }

    /// The owner moves stake to another miner's hotkey (and stakes there from now on).
    fn move_stake(
        &mut self,
        b: u64,
        owner: Account,
        from: Account,
        to: Account,
        alpha: Rao,
    ) -> Result<()> {
        let netuid = self.params.netuid;
        let moved = self.pool_remove(b, owner, from, alpha)?;
        if moved == 0 {
            return Ok(());
        }
        self.pool_add(b, owner, to, moved)?;
        self.subtensor_event(
            "StakeMoved",
            vec![
                acct(&owner),
                acct(&from),
                uint(netuid),
                acct(&to),
                uint(netuid),
                uint(moved),
            ],
        );
        self.ledger.record(
            b,
            "stake_moved",
            json!({ "coldkey": ss58(&owner), "from": ss58(&from), "to": ss58(&to), "alpha": moved }),
        );
        Ok(())
    }

    /// The uid goes to a fresh hotkey with a fresh owner.
    fn reregister(&mut self, b: u64, uid: u16, old: Account) -> Result<()> {
        let netuid = self.params.netuid;
        let hotkey = self.fresh_account("hotkey");
        let coldkey = self.fresh_account("coldkey");
        self.remove(b, "SubtensorModule", "Uids", (netuid, old))?;
        self.remove(b, "SubtensorModule", "Axons", (netuid, old))?;
        self.neurons[usize::from(uid)] = Neuron {
            uid,
            hotkey,
            registered_at: b,
            validator: false,
        };
        self.register_state(b, uid, hotkey, coldkey)?;
        self.subtensor_event(
            "NeuronRegistered",
            vec![uint(netuid), uint(uid), acct(&hotkey)],
        );
        Ok(())
    }

    /// The new coldkey takes over every hotkey and every share of the old one.
    fn swap_coldkey(&mut self, b: u64, owner: Account) -> Result<()> {
        let to = self.fresh_account("coldkey");
        for h in self.owned_by(&owner) {
            self.set_owner(b, h, to)?;
        }
        let staked: Vec<Account> = self
            .staking
            .get(&owner)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for h in staked {
            if let Some(p) = self.pools.get_mut(&h) {
                p.rename_staker(&owner, to);
            }
            self.write_pool(b, h, &[owner, to])?;
        }
        self.push_event(Value::unnamed_variant(
            "SubtensorModule",
            [Value::named_variant(
                "ColdkeySwapped",
                [("old_coldkey", acct(&owner)), ("new_coldkey", acct(&to))],
            )],
        ));
        self.ledger.record(
            b,
            "coldkey_swapped",
            json!({ "from": ss58(&owner), "to": ss58(&to) }),
        );
        Ok(())
    }

    /// Timestamp.Now, System.Number, System.Events; seals and ledgers the block.
    fn finish_block(&mut self, b: u64) -> Result<()> {
        self.set(
            b,
            "Timestamp",
            "Now",
            (),
            &(GENESIS_TIMESTAMP_MS + b * BLOCK_TIME_MS),
        )?;
        self.set(b, "System", "Number", (), &(b as u32))?;
        let records: Vec<Value> = std::mem::take(&mut self.events)
            .into_iter()
            .map(|(phase, event)| {
                Value::named_composite([
                    ("phase", phase),
                    ("event", event),
                    ("topics", Value::unnamed_composite([])),
                ])
            })
            .collect();
        self.set(
            b,
            "System",
            "Events",
            (),
            &Value::unnamed_composite(records),
        )?;
        self.ledger_stake_changes(b);
        self.seal(b);
        if let Err(e) = self.ledger.flush_block() {
            // The ledger is for tests; a full disk must not stop the chain, but must be seen.
            tracing::error!(error = %e, "cannot write the devnet ledger");
        }
        Ok(())
    }

    fn seal(&mut self, b: u64) {
        let parent_hash = self.blocks.last().map_or(H256::zero(), |p| p.hash);
        let extrinsics = std::mem::take(&mut self.body);
        let header = SubstrateHeader {
            parent_hash,
            number: b,
            // Not a trie root: a commitment to the block number and seed, enough for clients
            // that only compare roots.
            state_root: H256(sp_crypto_hashing::blake2_256(
                &(self.params.seed, b, "state").encode(),
            )),
            // Not a trie root either: a hash of the body.
            extrinsics_root: H256(sp_crypto_hashing::blake2_256(&extrinsics.encode())),
            digest: Digest::default(),
        };
        let hash = H256(sp_crypto_hashing::blake2_256(&header.encode()));
        self.by_hash.insert(hash, b);
        self.blocks.push(Block {
            header,
            hash,
            extrinsics,
        });
    }

    pub fn block_by_hash(&self, hash: &H256) -> Option<&Block> {
        self.by_hash.get(hash).map(|&n| &self.blocks[n as usize])
    }

    pub fn block_number_of(&self, hash: Option<H256>) -> Option<u64> {
        match hash {
            None => Some(self.best()),
            Some(h) => self.block_by_hash(&h).map(|b| b.header.number),
        }
    }

    /// The signer's nonce in the chain state (what `AccountNonceApi` answers).
    pub fn nonce(&self, who: &Account) -> u32 {
        self.nonces.get(who).copied().unwrap_or(0)
    }

    /// The next nonce counting the transactions waiting in the pool
    /// (what `system_accountNextIndex` answers).
    pub fn next_nonce(&self, who: &Account) -> u32 {
        self.nonce(who) + self.pool.iter().filter(|(t, _)| &t.signer == who).count() as u32
    }

    /// Verifies a signed extrinsic and queues it for the next block.
    pub fn submit(&mut self, bytes: Vec<u8>) -> std::result::Result<H256, Invalid> {
        let tx = extrinsic::check(self, &bytes)?;
        // SubtensorTransactionExtension refuses a reveal round the beacon has already passed.
        let reveal_round = match (tx.pallet_index, tx.call_index) {
            (7, 113) => <(u16, Vec<u8>, u64)>::decode(&mut &tx.args[..])
                .ok()
                .map(|a| a.2),
            (7, 118) => <(u16, u8, Vec<u8>, u64)>::decode(&mut &tx.args[..])
                .ok()
                .map(|a| a.3),
            _ => None,
        };
        if let Some(round) = reveal_round
            && round < self.last_stored_round(self.best())
        {
            return Err(Invalid::InvalidRevealRound);
        }
        let hash = tx.hash;
        self.pool.push((tx, bytes));
        Ok(hash)
    }

    /// Dispatches extrinsic `index` of block `b`: its events, then ExtrinsicSuccess or
    /// ExtrinsicFailed with the module error.
    fn apply_extrinsic(&mut self, b: u64, index: u32, tx: Checked) -> Result<()> {
        *self.nonces.entry(tx.signer).or_default() += 1;
        let phase = || Value::unnamed_variant("ApplyExtrinsic", [uint(index)]);
        let outcome = match (tx.pallet_index, tx.call_index) {
            (7, 0) => match <(u16, Vec<u16>, Vec<u16>, u64)>::decode(&mut &tx.args[..]) {
                Ok((netuid, dests, weights, version_key)) => {
                    let w = WeightsArgs {
                        netuid,
                        mecid: 0,
                        dests,
                        weights,
                        version_key,
                    };
                    self.set_weights(b, tx.signer, w)
                }
                Err(_) => Err(None),
            },
            (7, 119) => match <(u16, u8, Vec<u16>, Vec<u16>, u64)>::decode(&mut &tx.args[..]) {
                Ok((netuid, mecid, dests, weights, version_key)) => {
                    let w = WeightsArgs {
                        netuid,
                        mecid,
                        dests,
                        weights,
                        version_key,
                    };
                    self.set_weights(b, tx.signer, w)
                }
                Err(_) => Err(None),
            },
            (7, 113) => match <(u16, Vec<u8>, u64, u16)>::decode(&mut &tx.args[..]) {
                Ok((netuid, commit, round, version)) => {
                    self.commit_timelocked(b, tx.signer, netuid, 0, commit, round, version)
                }
                Err(_) => Err(None),
            },
            (7, 118) => match <(u16, u8, Vec<u8>, u64, u16)>::decode(&mut &tx.args[..]) {
                Ok((netuid, mecid, commit, round, version)) => {
                    self.commit_timelocked(b, tx.signer, netuid, mecid, commit, round, version)
                }
                Err(_) => Err(None),
            },
            _ => Err(None),
        };
        let info = Value::named_composite([
            (
                "weight",
                Value::named_composite([("ref_time", uint(0u8)), ("proof_size", uint(0u8))]),
            ),
            ("class", Value::unnamed_variant("Normal", [])),
            ("pays_fee", Value::unnamed_variant("No", [])),
        ]);
        let system = match outcome {
            Ok(events) => {
                for e in events {
                    self.events.push((phase(), e));
                }
                Value::named_variant("ExtrinsicSuccess", [("dispatch_info", info)])
            }
            Err(error) => {
                let dispatch_error = match error {
                    Some(e) => {
                        self.ledger.record(
                            b,
                            "extrinsic_failed",
                            json!({ "signer": ss58(&tx.signer), "error": format!("{e:?}") }),
                        );
                        Value::unnamed_variant(
                            "Module",
                            [Value::named_composite([
                                ("index", uint(7u8)),
                                ("error", Value::from_bytes([e.index(), 0, 0, 0])),
                            ])],
                        )
                    }
                    // A call the devnet does not implement.
                    None => Value::unnamed_variant("Other", []),
                };
                Value::named_variant(
                    "ExtrinsicFailed",
                    [("dispatch_error", dispatch_error), ("dispatch_info", info)],
                )
            }
        };
        self.events
            .push((phase(), Value::unnamed_variant("System", [system])));
        Ok(())
    }

    /// `set_weights` / `set_mechanism_weights` with the chain's checks in the chain's order.
    /// `Err(None)` is a failure that is no SubtensorModule error.
    fn set_weights(
        &mut self,
        b: u64,
        signer: Account,
        w: WeightsArgs,
    ) -> std::result::Result<Vec<Value>, Option<SubtensorError>> {
        if self.params.hyper.commit_reveal {
            return Err(Some(SubtensorError::CommitRevealEnabled));
        }
        self.store_weights(b, signer, w, false)
    }

    /// The checks and effects shared by a plain weight setting and a revealed commit (which
    /// skips the commit-reveal and rate-limit checks, as the chain's reveal does).
    fn store_weights(
        &mut self,
        b: u64,
        signer: Account,
        w: WeightsArgs,
        revealed: bool,
    ) -> std::result::Result<Vec<Value>, Option<SubtensorError>> {
        let WeightsArgs {
            netuid,
            mecid,
            dests,
            weights,
            version_key,
        } = w;
        use SubtensorError::*;
        let h = self.params.hyper.clone();
        let n = self.neurons.len() as u16;
        let fail = |e: SubtensorError| Err(Some(e));
        if netuid == 0 {
            return fail(CanNotSetRootNetworkWeights);
        }
        if dests.len() != weights.len() {
            return fail(WeightVecNotEqualSize);
        }
        if netuid != self.params.netuid || mecid >= 1 {
            return fail(MechanismDoesNotExist);
        }
        if dests.len() > usize::from(n) {
            return fail(UidsLengthExceedUidsInSubNet);
        }
        let Some(uid) = self.neurons.iter().position(|x| x.hotkey == signer) else {
            return fail(HotKeyNotRegisteredInSubNet);
        };
        let uid = uid as u16;
        if h.version_key != 0 && version_key < h.version_key {
            return fail(IncorrectWeightVersionKey);
        }
        let index = schedule::storage_index(netuid, mecid);
        let last = self
            .last_update
            .get(&index)
            .and_then(|v| v.get(usize::from(uid)).copied())
            .unwrap_or(0);
        if !revealed && last != 0 && b - last < h.rate_limit {
            return fail(SettingWeightsTooFast);
        }
        let self_weight = dests.len() == 1 && dests[0] == uid;
        if !self_weight && !self.neurons[usize::from(uid)].validator {
            return fail(NeuronNoValidatorPermit);
        }
        if dests.iter().collect::<BTreeSet<_>>().len() != dests.len() {
            return fail(DuplicateUids);
        }
        if dests.iter().any(|d| *d >= n) {
            return fail(UidVecContainInvalidOne);
        }
        if !self_weight && dests.len() < usize::from(h.min_allowed_weights.min(n)) {
            return fail(WeightVecLengthIsLow);
        }
        // The chain stores weights max-upscaled to u16::MAX.
        let max = weights.iter().copied().max().unwrap_or(0);
        let stored: Vec<(u16, u16)> = dests
            .iter()
            .zip(&weights)
            .map(|(d, w)| {
                let v = if max == 0 {
                    0
                } else {
                    (u64::from(*w) * u64::from(u16::MAX) / u64::from(max)) as u16
                };
                (*d, v)
            })
            .collect();
        let last_update = self.last_update.entry(index).or_default();
        last_update.resize(usize::from(n), 0);
        last_update[usize::from(uid)] = b;
        let last_update = last_update.clone();
        let write = |c: &mut Self| -> Result<()> {
            c.set(b, "SubtensorModule", "Weights", (index, uid), &stored)?;
            c.set(b, "SubtensorModule", "LastUpdate", (index,), &last_update)
        };
        write(self).map_err(|e| {
            tracing::error!(error = %e, "devnet cannot store weights");
            None
        })?;
        self.ledger.record(
            b,
            "weights_set",
            json!({
                "uid": uid,
                "hotkey": ss58(&signer),
                "netuid_index": index,
                "version_key": version_key,
                "revealed": revealed,
                "dests": stored.iter().map(|(d, _)| d).collect::<Vec<_>>(),
                "weights": stored.iter().map(|(_, w)| w).collect::<Vec<_>>(),
            }),
        );
        Ok(vec![Value::unnamed_variant(
            "SubtensorModule",
            [Value::unnamed_variant(
                "WeightsSet",
                [uint(index), uint(uid)],
            )],
        )])
    }

    /// The legacy epoch index of block `b` (what commits are keyed by).
    fn epoch_index(&self, b: u64) -> u64 {
        let (netuid, tempo) = (u64::from(self.params.netuid), u64::from(self.params.tempo));
        (b + netuid + 1) / (tempo + 1)
    }

    /// The drand round the devnet's beacon has published by block `b`'s chain time.
    pub fn last_stored_round(&self, b: u64) -> u64 {
        self.beacon
            .round_at((GENESIS_TIMESTAMP_MS + b * BLOCK_TIME_MS) / 1000)
    }

    /// `commit_timelocked_weights` / `commit_timelocked_mechanism_weights`.
    #[allow(clippy::too_many_arguments)]
    fn commit_timelocked(
        &mut self,
        b: u64,
        who: Account,
        netuid: u16,
        mecid: u8,
        bytes: Vec<u8>,
        reveal_round: u64,
        version: u16,
    ) -> std::result::Result<Vec<Value>, Option<SubtensorError>> {
        use SubtensorError::*;
        let h = self.params.hyper.clone();
        if !h.commit_reveal {
            return Err(Some(CommitRevealDisabled));
        }
        if version != COMMIT_REVEAL_VERSION {
            return Err(Some(IncorrectCommitRevealVersion));
        }
        if netuid != self.params.netuid || mecid >= 1 {
            return Err(Some(MechanismDoesNotExist));
        }
        let Some(uid) = self.neurons.iter().position(|x| x.hotkey == who) else {
            return Err(Some(HotKeyNotRegisteredInSubNet));
        };
        let index = schedule::storage_index(netuid, mecid);
        let n = self.neurons.len();
        let epoch = self.epoch_index(b);
        let last_update = self.last_update.entry(index).or_default();
        last_update.resize(n, 0);
        let last = last_update[uid];
        if last != 0 && b - last < h.rate_limit {
            return Err(Some(CommittingWeightsTooFast));
        }
        let pending = self
            .commits
            .iter()
            .filter(|c| c.who == who && c.index == index && c.epoch == epoch)
            .count();
        if pending >= MAX_UNREVEALED_COMMITS {
            return Err(Some(TooManyUnrevealedCommits));
        }
        last_update[uid] = b;
        let last_update = last_update.clone();
        let hash = H256(sp_crypto_hashing::blake2_256(&bytes.encode()));
        self.commits.push(Commit {
            who,
            index,
            mecid,
            epoch,
            block: b,
            bytes,
            reveal_round,
        });
        let stored = |c: &mut Self| -> Result<()> {
            c.set(b, "SubtensorModule", "LastUpdate", (index,), &last_update)?;
            c.write_commits(b, index, epoch)
        };
        stored(self).map_err(|e| {
            tracing::error!(error = %e, "devnet cannot store a commit");
            None
        })?;
        self.ledger.record(
            b,
            "weights_committed",
            json!({
                "uid": uid,
                "hotkey": ss58(&who),
                "netuid_index": index,
                "epoch": epoch,
                "reveal_round": reveal_round,
                "commit_hash": format!("{hash:?}"),
            }),
        );
        Ok(vec![Value::unnamed_variant(
            "SubtensorModule",
            [Value::unnamed_variant(
                "TimelockedWeightsCommitted",
                [
                    Value::from_bytes(who),
                    uint(index),
                    Value::from_bytes(hash.0),
                    uint(reveal_round),
                ],
            )],
        )])
    }

    /// `TimelockedWeightCommits[(index, epoch)]` as the pending commits say.
    fn write_commits(&mut self, b: u64, index: u16, epoch: u64) -> Result<()> {
        let entries: Vec<Value> = self
            .commits
            .iter()
            .filter(|c| c.index == index && c.epoch == epoch)
            .map(|c| {
                Value::unnamed_composite([
                    Value::from_bytes(c.who),
                    uint(c.block),
                    Value::from_bytes(&c.bytes),
                    uint(c.reveal_round),
                ])
            })
            .collect();
        self.set(
            b,
            "SubtensorModule",
            "TimelockedWeightCommits",
            (index, epoch),
            &Value::unnamed_composite(entries),
        )
    }

    /// Publishes drand rounds up to block `b`'s chain time, then reveals the commits whose
    /// reveal epoch has come and whose pulse is stored; commits of an epoch gone by without a
    /// pulse expire. A commit that fails to decrypt or to apply is dropped with a ledger line.
    fn drand_and_reveals(&mut self, b: u64) -> Result<()> {
        let round = self.last_stored_round(b);
        self.set(b, "Drand", "LastStoredRound", (), &round)?;
        let current = self.epoch_index(b);
        let period = self.params.hyper.reveal_period;
        // A commit is revealed in exactly the epoch `period` after its own, once its pulse is
        // stored; an epoch gone by without the pulse expires it.
        let (expired, rest): (Vec<Commit>, Vec<Commit>) = std::mem::take(&mut self.commits)
            .into_iter()
            .partition(|c| c.epoch + period < current);
        let (due, waiting): (Vec<Commit>, Vec<Commit>) = rest
            .into_iter()
            .partition(|c| c.epoch + period == current && c.reveal_round <= round);
        self.commits = waiting;
        // A dropped epoch's commits wait like commits whose pulse never came, and expire.
        let (dropped, due): (Vec<Commit>, Vec<Commit>) = due
            .into_iter()
            .partition(|c| self.params.hyper.drop_reveal_at == Some(c.epoch));
        self.commits.extend(dropped);
        let mut touched = BTreeSet::new();
        for c in &expired {
            touched.insert((c.index, c.epoch));
            self.ledger.record(
                b,
                "reveal_failed",
                json!({ "hotkey": ss58(&c.who), "epoch": c.epoch, "reason": "expired before its drand round" }),
            );
        }
        for c in due {
            touched.insert((c.index, c.epoch));
            let signature = self.beacon.signature(c.reveal_round);
            let randomness: [u8; 32] = sp_crypto_hashing::sha2_256(&signature);
            self.set(
                b,
                "Drand",
                "Pulses",
                (c.reveal_round,),
                &Value::named_composite([
                    ("round", uint(c.reveal_round)),
                    ("randomness", Value::from_bytes(randomness)),
                    ("signature", Value::from_bytes(&signature)),
                ]),
            )?;
            let payload = beacon::open(&c.bytes, &signature)
                .and_then(|plain| {
                    WeightsTlockPayload::decode(&mut &plain[..])
                        .map_err(|e| format!("payload: {e}"))
                })
                .and_then(|p| {
                    if p.hotkey[..] == c.who[..] {
                        Ok(p)
                    } else {
                        Err("payload hotkey is not the committer".to_string())
                    }
                });
            let outcome = match payload {
                Ok(p) => {
                    let w = WeightsArgs {
                        netuid: self.params.netuid,
                        mecid: c.mecid,
                        dests: p.uids,
                        weights: p.values,
                        version_key: p.version_key,
                    };
                    self.store_weights(b, c.who, w, true)
                        .map_err(|e| format!("{e:?}"))
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(_) => self.push_event(Value::unnamed_variant(
                    "SubtensorModule",
                    [Value::unnamed_variant(
                        "TimelockedWeightsRevealed",
                        [uint(c.index), Value::from_bytes(c.who)],
                    )],
                )),
                Err(reason) => self.ledger.record(
                    b,
                    "reveal_failed",
                    json!({ "hotkey": ss58(&c.who), "epoch": c.epoch, "reason": reason }),
                ),
            }
        }
        for (index, epoch) in touched {
            self.write_commits(b, index, epoch)?;
        }
        Ok(())
    }

    /// SCALE of `Core_version`'s `RuntimeVersion` at block `b`.
    pub fn runtime_version(&self, b: u64) -> Vec<u8> {
        let apis: Vec<([u8; 8], u32)> = Vec::new();
        (
            SPEC_NAME.to_string(),
            SPEC_NAME.to_string(),
            1u32,
            self.runtime_at(b).spec_version,
            1u32,
            apis,
            1u32,
            1u8,
        )
            .encode()
    }
}
