//! The simulated chain: blocks with real Substrate header hashes, one subnet with miners and
//! validators, epochs by the legacy rule, and emissions credited through the share pools.
//! Deterministic from the seed.

use std::collections::HashMap;

use subxt::config::substrate::{Digest, SubstrateHeader};
use subxt::ext::codec::Encode;
use subxt::ext::scale_value::Value;
use subxt::utils::H256;

use super::storage::{Encoder, StorageError, VersionedStorage};
use crate::chain::schedule;
use crate::chain::{NetUid, Rao};

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
}

#[derive(Debug, Clone)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: [u8; 32],
    pub coldkey: [u8; 32],
    pub registered_at: u64,
    pub validator: bool,
    /// Alpha the owner holds on this hotkey.
    pub stake: Rao,
}

#[derive(Debug, Clone)]
pub struct Block {
    pub header: SubstrateHeader<H256>,
    pub hash: H256,
}

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
}

/// A 32-byte account derived from the seed and a label (not a key pair).
pub fn account(seed: u64, label: &str) -> [u8; 32] {
    sp_crypto_hashing::blake2_256(format!("tenure-devnet/{seed}/{label}").as_bytes())
}

pub struct Chain {
    pub params: Params,
    pub encoder: Encoder,
    /// `RuntimeMetadataPrefixed` bytes, as served by `Metadata_metadata_at_version`.
    pub metadata_bytes: Vec<u8>,
    pub metadata_version: u32,
    pub storage: VersionedStorage,
    pub blocks: Vec<Block>,
    by_hash: HashMap<H256, u64>,
    pub finalized: u64,
    pub neurons: Vec<Neuron>,
    rng: Rng,
}

type Result<T> = std::result::Result<T, StorageError>;

impl Chain {
    /// The genesis block (0) with the subnet registered and staked.
    pub fn new(
        params: Params,
        metadata_bytes: Vec<u8>,
        metadata: subxt::Metadata,
        metadata_version: u32,
    ) -> Result<Self> {
        let mut rng = Rng::new(params.seed);
        let n = params.miners + params.validators;
        let neurons = (0..n)
            .map(|uid| {
                let validator = uid < params.validators;
                Neuron {
                    uid,
                    hotkey: account(params.seed, &format!("hotkey/{uid}")),
                    coldkey: account(params.seed, &format!("coldkey/{uid}")),
                    registered_at: 0,
                    validator,
                    stake: if validator {
                        rng.range(10_000, 50_000) * crate::chain::types::RAO_PER_UNIT
                    } else {
                        rng.range(0, 1_000) * crate::chain::types::RAO_PER_UNIT
                    },
                }
            })
            .collect();
        let mut chain = Chain {
            params,
            encoder: Encoder { metadata },
            metadata_bytes,
            metadata_version,
            storage: VersionedStorage::default(),
            blocks: Vec::new(),
            by_hash: HashMap::new(),
            finalized: 0,
            neurons,
            rng,
        };
        chain.write_genesis_state()?;
        chain.write_block_state(0, Vec::new())?;
        chain.seal(0);
        Ok(chain)
    }

    pub fn best(&self) -> u64 {
        (self.blocks.len() - 1) as u64
    }

    fn set(
        &mut self,
        block: u64,
        pallet: &str,
        entry: &str,
        keys: impl subxt::ext::frame_decode::storage::IntoEncodableValues,
        value: &impl subxt::ext::scale_encode::EncodeAsType,
    ) -> Result<()> {
        let key = self.encoder.key(pallet, entry, keys)?;
        let value = self.encoder.value(pallet, entry, value)?;
        self.storage.set_raw(block, key, Some(value));
        Ok(())
    }

    fn write_genesis_state(&mut self) -> Result<()> {
        let netuid = self.params.netuid;
        let tempo = self.params.tempo;
        self.set(0, "SubtensorModule", "Tempo", (netuid,), &tempo)?;
        self.set(0, "SubtensorModule", "NetworksAdded", (netuid,), &true)?;
        let n = self.neurons.len() as u16;
        self.set(0, "SubtensorModule", "SubnetworkN", (netuid,), &n)?;
        let permits: Vec<bool> = self.neurons.iter().map(|x| x.validator).collect();
        self.set(0, "SubtensorModule", "ValidatorPermit", (netuid,), &permits)?;
        for i in 0..self.neurons.len() {
            let x = self.neurons[i].clone();
            self.set(0, "SubtensorModule", "Keys", (netuid, x.uid), &x.hotkey)?;
            self.set(0, "SubtensorModule", "Uids", (netuid, x.hotkey), &x.uid)?;
            self.set(0, "SubtensorModule", "Owner", (x.hotkey,), &x.coldkey)?;
            self.set(
                0,
                "SubtensorModule",
                "BlockAtRegistration",
                (netuid, x.uid),
                &x.registered_at,
            )?;
            self.write_stake(0, &x)?;
        }
        Ok(())
    }

    /// The owner's alpha on its hotkey through the share pool: the owner holds every share, so
    /// `alpha = TotalHotkeyAlpha · share / TotalHotkeyShares` is exactly the stake.
    fn write_stake(&mut self, block: u64, x: &Neuron) -> Result<()> {
        let netuid = self.params.netuid;
        self.set(
            block,
            "SubtensorModule",
            "TotalHotkeyAlpha",
            (x.hotkey, netuid),
            &x.stake,
        )?;
        // U64F64 shares: one share per RAO at registration; emissions grow the pool, not the shares.
        if block == 0 {
            let shares: u128 = u128::from(x.stake.max(1)) << 64;
            self.set(
                block,
                "SubtensorModule",
                "TotalHotkeyShares",
                (x.hotkey, netuid),
                &shares,
            )?;
            self.set(
                block,
                "SubtensorModule",
                "Alpha",
                (x.hotkey, x.coldkey, netuid),
                &shares,
            )?;
        }
        Ok(())
    }

    /// Produces the next block; returns its number.
    pub fn produce(&mut self) -> Result<u64> {
        let b = self.best() + 1;
        let mut events = Vec::new();
        let netuid = self.params.netuid;
        if schedule::epoch_runs_at(b, netuid, self.params.tempo) {
            let emissions: Vec<Rao> = (0..self.neurons.len())
                .map(|_| self.rng.range(0, 2 * crate::chain::types::RAO_PER_UNIT))
                .collect();
            for (i, e) in emissions.iter().enumerate() {
                self.neurons[i].stake += e;
                let x = self.neurons[i].clone();
                self.write_stake(b, &x)?;
            }
            self.set(b, "SubtensorModule", "Emission", (netuid,), &emissions)?;
            self.set(
                b,
                "SubtensorModule",
                "LastMechansimStepBlock",
                (netuid,),
                &b,
            )?;
            events.push(Value::unnamed_variant(
                "SubtensorModule",
                [Value::named_variant(
                    "IncentiveAlphaEmittedToMiners",
                    [
                        ("netuid", Value::u128(u128::from(netuid))),
                        (
                            "emissions",
                            Value::unnamed_composite(
                                emissions.iter().map(|e| Value::u128(u128::from(*e))),
                            ),
                        ),
                    ],
                )],
            ));
        }
        self.write_block_state(b, events)?;
        self.seal(b);
        self.finalized = b.saturating_sub(self.params.finality_lag);
        Ok(b)
    }

    /// Timestamp.Now, System.Number and System.Events of block `b`.
    fn write_block_state(&mut self, b: u64, events: Vec<Value>) -> Result<()> {
        self.set(
            b,
            "Timestamp",
            "Now",
            (),
            &(GENESIS_TIMESTAMP_MS + b * BLOCK_TIME_MS),
        )?;
        self.set(b, "System", "Number", (), &(b as u32))?;
        let records: Vec<Value> = events
            .into_iter()
            .map(|event| {
                Value::named_composite([
                    ("phase", Value::unnamed_variant("Finalization", [])),
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
        Ok(())
    }

    fn seal(&mut self, b: u64) {
        let parent_hash = self.blocks.last().map_or(H256::zero(), |p| p.hash);
        let header = SubstrateHeader {
            parent_hash,
            number: b,
            // Not a trie root: a commitment to the block number and seed, enough for clients
            // that only compare roots.
            state_root: H256(sp_crypto_hashing::blake2_256(
                &(self.params.seed, b, "state").encode(),
            )),
            extrinsics_root: H256(sp_crypto_hashing::blake2_256(&[])),
            digest: Digest::default(),
        };
        let hash = H256(sp_crypto_hashing::blake2_256(&header.encode()));
        self.by_hash.insert(hash, b);
        self.blocks.push(Block { header, hash });
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

    /// SCALE of `Core_version`'s `RuntimeVersion`.
    pub fn runtime_version(&self) -> Vec<u8> {
        let apis: Vec<([u8; 8], u32)> = Vec::new();
        (
            SPEC_NAME.to_string(),
            SPEC_NAME.to_string(),
            1u32,
            self.params.spec_version,
            1u32,
            apis,
            1u32,
            1u8,
        )
            .encode()
    }
}
