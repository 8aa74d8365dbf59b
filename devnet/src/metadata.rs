//! The devnet's own runtime metadata (V16): `System`, `Timestamp` and a `SubtensorModule` pallet
//! declaring the storage items, calls, events and transaction extensions tenure uses, with the
//! names, indices and SCALE shapes of the real runtime (checked against finney's metadata by the
//! conformance test) and the newer runtimes' extension list (`ChargeTransactionPaymentWrapper`).
#![allow(non_camel_case_types, dead_code)]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use frame_metadata::v15::{CustomMetadata, OuterEnums};
use frame_metadata::v16::{
    EnumDeprecationInfo, ExtrinsicMetadata, ItemDeprecationInfo, PalletCallMetadata,
    PalletEventMetadata, PalletMetadata, PalletStorageMetadata, RuntimeMetadataV16,
    StorageEntryMetadata, StorageEntryModifier, StorageEntryType, StorageHasher,
    TransactionExtensionMetadata,
};
use frame_metadata::{META_RESERVED, RuntimeMetadata, RuntimeMetadataPrefixed};
use scale_info::build::{Fields, Variants};
use scale_info::{Path, Type, TypeInfo, meta_type};
use subxt::ext::codec::{Compact, Encode};

// ---- primitive newtypes with the real runtime's shapes ------------------------------------

/// `sp_core::crypto::AccountId32`, under the runtime's own path: clients such as the Python
/// SDK recognize accounts by it (and then speak SS58).
pub struct AccountId32(#[allow(dead_code)] [u8; 32]);

impl TypeInfo for AccountId32 {
    type Identity = Self;

    fn type_info() -> Type {
        Type::builder()
            .path(Path::new("AccountId32", "sp_core::crypto"))
            .composite(Fields::unnamed().field(|f| f.ty::<[u8; 32]>().type_name("[u8; 32]")))
    }
}
#[derive(TypeInfo)]
pub struct H256([u8; 32]);
/// `substrate_fixed::FixedU128<U64>` (U64F64 share counts).
#[derive(TypeInfo)]
pub struct FixedU128 {
    bits: u128,
}
#[derive(TypeInfo)]
pub struct BoundedVec(Vec<u8>);
/// `share_pool::SafeFloat` of newer runtimes (v2 share maps).
#[derive(TypeInfo)]
pub struct SafeFloat {
    mantissa: u128,
    exponent: i64,
}

/// `pallet_drand::types::Pulse`.
#[derive(TypeInfo)]
pub struct Pulse {
    round: u64,
    randomness: BoundedVec,
    signature: BoundedVec,
}

#[derive(TypeInfo)]
pub struct AxonInfo {
    block: u64,
    version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
    protocol: u8,
    placeholder1: u8,
    placeholder2: u8,
}

// ---- events ------------------------------------------------------------------------------

#[derive(TypeInfo)]
pub enum Phase {
    ApplyExtrinsic(u32),
    Finalization,
    Initialization,
}

#[derive(TypeInfo)]
pub struct EventRecord {
    phase: Phase,
    event: RuntimeEvent,
    topics: Vec<H256>,
}

#[derive(TypeInfo)]
pub enum RuntimeEvent {
    #[codec(index = 0)]
    System(SystemEvent),
    #[codec(index = 7)]
    SubtensorModule(SubtensorEvent),
}

#[derive(TypeInfo)]
pub struct Weight {
    #[codec(compact)]
    ref_time: u64,
    #[codec(compact)]
    proof_size: u64,
}
#[derive(TypeInfo)]
pub enum DispatchClass {
    Normal,
    Operational,
    Mandatory,
}
#[derive(TypeInfo)]
pub enum Pays {
    Yes,
    No,
}
#[derive(TypeInfo)]
pub struct DispatchEventInfo {
    weight: Weight,
    class: DispatchClass,
    pays_fee: Pays,
}

#[derive(TypeInfo)]
pub struct ModuleError {
    index: u8,
    error: [u8; 4],
}
#[derive(TypeInfo)]
pub enum TokenError {
    FundsUnavailable,
    OnlyProvider,
    BelowMinimum,
    CannotCreate,
    UnknownAsset,
    Frozen,
    Unsupported,
    CannotCreateHold,
    NotExpendable,
    Blocked,
}
#[derive(TypeInfo)]
pub enum ArithmeticError {
    Underflow,
    Overflow,
    DivisionByZero,
}
#[derive(TypeInfo)]
pub enum TransactionalError {
    LimitReached,
    NoLayer,
}
#[derive(TypeInfo)]
pub enum TrieError {
    InvalidStateRoot,
    IncompleteDatabase,
    ValueAtIncompleteKey,
    DecoderError,
    InvalidHash,
    DuplicateKey,
    ExtraneousNode,
    ExtraneousValue,
    ExtraneousHashReference,
    InvalidChildReference,
    ValueMismatch,
    IncompleteProof,
    RootMismatch,
    DecodeError,
}

/// `sp_runtime::DispatchError`: subxt finds the dispatch error type by this exact path.
pub struct DispatchError;

impl TypeInfo for DispatchError {
    type Identity = Self;
    fn type_info() -> Type {
        let unit = ["Other", "CannotLookup", "BadOrigin"];
        let mut v = Variants::new();
        for (i, name) in unit.into_iter().enumerate() {
            v = v.variant_unit(name, i as u8);
        }
        v = v.variant("Module", |b| {
            b.index(3)
                .fields(Fields::unnamed().field(|f| f.ty::<ModuleError>()))
        });
        for (i, name) in ["ConsumerRemaining", "NoProviders", "TooManyConsumers"]
            .into_iter()
            .enumerate()
        {
            v = v.variant_unit(name, 4 + i as u8);
        }
        v = v
            .variant("Token", |b| {
                b.index(7)
                    .fields(Fields::unnamed().field(|f| f.ty::<TokenError>()))
            })
            .variant("Arithmetic", |b| {
                b.index(8)
                    .fields(Fields::unnamed().field(|f| f.ty::<ArithmeticError>()))
            })
            .variant("Transactional", |b| {
                b.index(9)
                    .fields(Fields::unnamed().field(|f| f.ty::<TransactionalError>()))
            });
        for (i, name) in ["Exhausted", "Corruption", "Unavailable", "RootNotAllowed"]
            .into_iter()
            .enumerate()
        {
            v = v.variant_unit(name, 10 + i as u8);
        }
        v = v.variant("Trie", |b| {
            b.index(14)
                .fields(Fields::unnamed().field(|f| f.ty::<TrieError>()))
        });
        Type::builder()
            .path(Path::new("DispatchError", "sp_runtime"))
            .variant(v)
    }
}

#[derive(TypeInfo)]
pub enum SystemEvent {
    #[codec(index = 0)]
    ExtrinsicSuccess { dispatch_info: DispatchEventInfo },
    #[codec(index = 1)]
    ExtrinsicFailed {
        dispatch_error: DispatchError,
        dispatch_info: DispatchEventInfo,
    },
}

/// The `SubtensorModule` events tenure reads, at the real runtime's indices.
#[derive(TypeInfo)]
pub enum SubtensorEvent {
    #[codec(index = 2)]
    StakeAdded(AccountId32, AccountId32, u64, u64, u16, u64),
    #[codec(index = 3)]
    StakeRemoved(AccountId32, AccountId32, u64, u64, u16, u64),
    #[codec(index = 4)]
    StakeMoved(AccountId32, AccountId32, u16, AccountId32, u16, u64),
    #[codec(index = 5)]
    WeightsSet(u16, u16),
    #[codec(index = 6)]
    NeuronRegistered(u16, u16, AccountId32),
    #[codec(index = 28)]
    AxonServed(u16, AccountId32),
    #[codec(index = 64)]
    HotkeySwapped {
        coldkey: AccountId32,
        old_hotkey: AccountId32,
        new_hotkey: AccountId32,
    },
    #[codec(index = 69)]
    ColdkeySwapped {
        old_coldkey: AccountId32,
        new_coldkey: AccountId32,
    },
    #[codec(index = 89)]
    StakeTransferred(AccountId32, AccountId32, AccountId32, u16, u16, u64),
    #[codec(index = 105)]
    TimelockedWeightsCommitted(AccountId32, u16, H256, u64),
    #[codec(index = 106)]
    TimelockedWeightsRevealed(u16, AccountId32),
    #[codec(index = 107)]
    AutoStakeAdded {
        netuid: u16,
        destination: AccountId32,
        hotkey: AccountId32,
        owner: AccountId32,
        incentive: u64,
    },
    #[codec(index = 108)]
    IncentiveAlphaEmittedToMiners { netuid: u16, emissions: Vec<u64> },
}

// ---- calls -------------------------------------------------------------------------------

#[derive(TypeInfo)]
pub enum RuntimeCall {
    #[codec(index = 7)]
    SubtensorModule(SubtensorCall),
}

#[derive(TypeInfo)]
pub enum SubtensorCall {
    #[codec(index = 0)]
    set_weights {
        netuid: u16,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    },
    #[codec(index = 2)]
    add_stake {
        hotkey: AccountId32,
        netuid: u16,
        amount_staked: u64,
    },
    #[codec(index = 3)]
    remove_stake {
        hotkey: AccountId32,
        netuid: u16,
        amount_unstaked: u64,
    },
    #[codec(index = 4)]
    serve_axon {
        netuid: u16,
        version: u32,
        ip: u128,
        port: u16,
        ip_type: u8,
        protocol: u8,
        placeholder1: u8,
        placeholder2: u8,
    },
    #[codec(index = 113)]
    commit_timelocked_weights {
        netuid: u16,
        commit: BoundedVec,
        reveal_round: u64,
        commit_reveal_version: u16,
    },
    #[codec(index = 118)]
    commit_timelocked_mechanism_weights {
        netuid: u16,
        mecid: u8,
        commit: BoundedVec,
        reveal_round: u64,
        commit_reveal_version: u16,
    },
    #[codec(index = 119)]
    set_mechanism_weights {
        netuid: u16,
        mecid: u8,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    },
}

/// The `SubtensorModule` errors the devnet's weight checks return, at the real indices.
#[derive(TypeInfo, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtensorError {
    #[codec(index = 4)]
    HotKeyNotRegisteredInSubNet,
    #[codec(index = 10)]
    NotEnoughStakeToSetWeights,
    #[codec(index = 15)]
    NeuronNoValidatorPermit,
    #[codec(index = 16)]
    WeightVecNotEqualSize,
    #[codec(index = 17)]
    DuplicateUids,
    #[codec(index = 18)]
    UidVecContainInvalidOne,
    #[codec(index = 19)]
    WeightVecLengthIsLow,
    #[codec(index = 26)]
    MaxWeightExceeded,
    #[codec(index = 28)]
    SettingWeightsTooFast,
    #[codec(index = 29)]
    IncorrectWeightVersionKey,
    #[codec(index = 31)]
    UidsLengthExceedUidsInSubNet,
    #[codec(index = 46)]
    CanNotSetRootNetworkWeights,
    #[codec(index = 52)]
    CommitRevealEnabled,
    #[codec(index = 53)]
    CommitRevealDisabled,
    #[codec(index = 73)]
    MechanismDoesNotExist,
    #[codec(index = 76)]
    TooManyUnrevealedCommits,
    #[codec(index = 80)]
    CommittingWeightsTooFast,
    #[codec(index = 111)]
    IncorrectCommitRevealVersion,
}

impl SubtensorError {
    /// The error's index in the pallet's error enum (the first byte of `ModuleError.error`).
    pub fn index(self) -> u8 {
        use SubtensorError::*;
        match self {
            HotKeyNotRegisteredInSubNet => 4,
            NotEnoughStakeToSetWeights => 10,
            NeuronNoValidatorPermit => 15,
            WeightVecNotEqualSize => 16,
            DuplicateUids => 17,
            UidVecContainInvalidOne => 18,
            WeightVecLengthIsLow => 19,
            MaxWeightExceeded => 26,
            SettingWeightsTooFast => 28,
            IncorrectWeightVersionKey => 29,
            UidsLengthExceedUidsInSubNet => 31,
            CanNotSetRootNetworkWeights => 46,
            CommitRevealEnabled => 52,
            CommitRevealDisabled => 53,
            MechanismDoesNotExist => 73,
            TooManyUnrevealedCommits => 76,
            CommittingWeightsTooFast => 80,
            IncorrectCommitRevealVersion => 111,
        }
    }
}

#[derive(TypeInfo)]
pub enum RuntimeError {
    #[codec(index = 7)]
    SubtensorModule(SubtensorError),
}

// ---- extrinsic format --------------------------------------------------------------------

#[derive(TypeInfo)]
pub enum MultiAddress {
    Id(AccountId32),
    Index(#[codec(compact)] ()),
    Raw(Vec<u8>),
    Address32([u8; 32]),
    Address20([u8; 20]),
}

#[derive(TypeInfo)]
pub enum MultiSignature {
    Ed25519([u8; 64]),
    Sr25519([u8; 64]),
    Ecdsa([u8; 65]),
}

static MORTAL_NAMES: LazyLock<Vec<String>> =
    LazyLock::new(|| (1..=255).map(|i| format!("Mortal{i}")).collect());

/// `sp_runtime::generic::era::Era`: `Immortal` or `MortalN(u8)`.
pub struct Era;

impl TypeInfo for Era {
    type Identity = Self;
    fn type_info() -> Type {
        let mut v = Variants::new().variant_unit("Immortal", 0);
        for (i, name) in MORTAL_NAMES.iter().enumerate() {
            v = v.variant(name.as_str(), |b| {
                b.index(i as u8 + 1)
                    .fields(Fields::unnamed().field(|f| f.ty::<u8>()))
            });
        }
        Type::builder()
            .path(Path::new("Era", "sp_runtime::generic::era"))
            .variant(v)
    }
}

#[derive(TypeInfo)]
pub struct CheckNonZeroSender;
#[derive(TypeInfo)]
pub struct CheckSpecVersion;
#[derive(TypeInfo)]
pub struct CheckTxVersion;
#[derive(TypeInfo)]
pub struct CheckGenesis;
#[derive(TypeInfo)]
pub struct CheckMortality(Era);
#[derive(TypeInfo)]
pub struct CheckNonce(#[codec(compact)] u32);
#[derive(TypeInfo)]
pub struct CheckWeight;
#[derive(TypeInfo)]
pub struct ChargeTransactionPaymentWrapper(#[codec(compact)] u64);
#[derive(TypeInfo)]
pub struct SudoTransactionExtension;
#[derive(TypeInfo)]
pub struct CheckShieldedTxValidity;
#[derive(TypeInfo)]
pub struct SubtensorTransactionExtension;
#[derive(TypeInfo)]
pub struct DrandPriority;
#[derive(TypeInfo)]
pub enum Mode {
    Disabled,
    Enabled,
}
#[derive(TypeInfo)]
pub struct CheckMetadataHash {
    mode: Mode,
}

fn ext<V: TypeInfo + 'static, I: TypeInfo + 'static>(
    identifier: &'static str,
) -> TransactionExtensionMetadata {
    TransactionExtensionMetadata {
        identifier,
        ty: meta_type::<V>(),
        implicit: meta_type::<I>(),
    }
}

/// The transaction extensions of newer subtensor runtimes, in order (spec 393 has
/// `ChargeTransactionPayment` where these have the wrapper).
pub fn transaction_extensions() -> Vec<TransactionExtensionMetadata> {
    vec![
        ext::<CheckNonZeroSender, ()>("CheckNonZeroSender"),
        ext::<CheckSpecVersion, u32>("CheckSpecVersion"),
        ext::<CheckTxVersion, u32>("CheckTxVersion"),
        ext::<CheckGenesis, H256>("CheckGenesis"),
        ext::<CheckMortality, H256>("CheckMortality"),
        ext::<CheckNonce, ()>("CheckNonce"),
        ext::<CheckWeight, ()>("CheckWeight"),
        ext::<ChargeTransactionPaymentWrapper, ()>("ChargeTransactionPaymentWrapper"),
        ext::<SudoTransactionExtension, ()>("SudoTransactionExtension"),
        ext::<CheckShieldedTxValidity, ()>("CheckShieldedTxValidity"),
        ext::<SubtensorTransactionExtension, ()>("SubtensorTransactionExtension"),
        ext::<DrandPriority, ()>("DrandPriority"),
        ext::<CheckMetadataHash, Option<[u8; 32]>>("CheckMetadataHash"),
    ]
}

// ---- storage -----------------------------------------------------------------------------

fn entry(
    name: &'static str,
    modifier: StorageEntryModifier,
    ty: StorageEntryType,
    default: Vec<u8>,
) -> StorageEntryMetadata {
    StorageEntryMetadata {
        name,
        modifier,
        ty,
        default,
        docs: vec![],
        deprecation_info: ItemDeprecationInfo::NotDeprecated,
    }
}

/// A ValueQuery item (absent keys read as `default`).
fn value<V: TypeInfo + 'static>(name: &'static str, default: Vec<u8>) -> StorageEntryMetadata {
    entry(
        name,
        StorageEntryModifier::Default,
        StorageEntryType::Plain(meta_type::<V>()),
        default,
    )
}

/// A ValueQuery map; `K` is the key (a tuple for several keys), one hasher per key.
fn map<K: TypeInfo + 'static, V: TypeInfo + 'static>(
    name: &'static str,
    hashers: &[StorageHasher],
    default: Vec<u8>,
) -> StorageEntryMetadata {
    let ty = StorageEntryType::Map {
        hashers: hashers.to_vec(),
        key: meta_type::<K>(),
        value: meta_type::<V>(),
    };
    entry(name, StorageEntryModifier::Default, ty, default)
}

/// An OptionQuery map (absent keys read as absent).
fn opt_map<K: TypeInfo + 'static, V: TypeInfo + 'static>(
    name: &'static str,
    hashers: &[StorageHasher],
) -> StorageEntryMetadata {
    let ty = StorageEntryType::Map {
        hashers: hashers.to_vec(),
        key: meta_type::<K>(),
        value: meta_type::<V>(),
    };
    entry(name, StorageEntryModifier::Optional, ty, vec![0])
}

fn subtensor_storage() -> Vec<StorageEntryMetadata> {
    use StorageHasher::{Blake2_128Concat as B, Identity as I, Twox64Concat as T};
    let zero_account = [0u8; 32].encode();
    vec![
        map::<(u16, u16), AccountId32>("Keys", &[I, I], zero_account.clone()),
        opt_map::<(u16, AccountId32), u16>("Uids", &[I, B]),
        map::<AccountId32, AccountId32>("Owner", &[B], zero_account.clone()),
        map::<u16, u16>("SubnetworkN", &[I], 0u16.encode()),
        map::<u16, u16>("Tempo", &[I], 360u16.encode()),
        map::<u16, bool>("NetworksAdded", &[I], false.encode()),
        map::<u16, Vec<bool>>("ValidatorPermit", &[I], vec![0]),
        map::<u16, Vec<bool>>("Active", &[I], vec![0]),
        map::<(u16, u16), u64>("BlockAtRegistration", &[I, I], 0u64.encode()),
        map::<(AccountId32, u16), u64>("TotalHotkeyAlpha", &[B, I], 0u64.encode()),
        map::<(AccountId32, u16), u64>("TotalHotkeyAlphaLastEpoch", &[B, I], 0u64.encode()),
        map::<(AccountId32, u16), FixedU128>("TotalHotkeyShares", &[B, I], 0u128.encode()),
        map::<(AccountId32, AccountId32, u16), FixedU128>("Alpha", &[B, B, I], 0u128.encode()),
        map::<AccountId32, Vec<AccountId32>>("StakingHotkeys", &[B], vec![0]),
        map::<AccountId32, Vec<AccountId32>>("OwnedHotkeys", &[B], vec![0]),
        map::<u16, Vec<u64>>("Emission", &[I], vec![0]),
        map::<u16, Vec<u16>>("Incentive", &[I], vec![0]),
        map::<u16, Vec<u16>>("Dividends", &[I], vec![0]),
        map::<u16, u64>("LastMechansimStepBlock", &[I], 0u64.encode()),
        opt_map::<(u16, AccountId32), AxonInfo>("Axons", &[I, B]),
        map::<u16, Vec<u64>>("LastUpdate", &[I], vec![0]),
        map::<(u16, u16), Vec<(u16, u16)>>("Weights", &[I, I], vec![0]),
        map::<u16, u64>("WeightsSetRateLimit", &[I], 100u64.encode()),
        map::<u16, u64>("WeightsVersionKey", &[I], 0u64.encode()),
        map::<u16, bool>("CommitRevealWeightsEnabled", &[I], true.encode()),
        value::<u16>("CommitRevealWeightsVersion", 4u16.encode()),
        map::<u16, u64>("RevealPeriodEpochs", &[T], 1u64.encode()),
        map::<u16, u16>("MinAllowedWeights", &[I], 1024u16.encode()),
        map::<u16, u16>("MaxWeightsLimit", &[I], u16::MAX.encode()),
        map::<u16, u8>("MechanismCountCurrent", &[T], 1u8.encode()),
        map::<(u16, u64), Vec<(AccountId32, u64, BoundedVec, u64)>>(
            "TimelockedWeightCommits",
            &[T, T],
            vec![0],
        ),
        map::<u16, u16>("MaxAllowedUids", &[I], 256u16.encode()),
        map::<u16, u16>("ImmunityPeriod", &[I], 4096u16.encode()),
        map::<u16, u16>("ActivityCutoff", &[I], 5000u16.encode()),
        map::<u16, AccountId32>("SubnetOwner", &[I], zero_account),
        value::<u64>("StakeThreshold", 0u64.encode()),
        // The runtime's default symbol is 𝜏 (U+1D70F); subnets get their own at registration.
        map::<u16, Vec<u8>>(
            "TokenSymbol",
            &[I],
            "\u{1D70F}".as_bytes().to_vec().encode(),
        ),
    ]
}

fn pallet(name: &'static str, index: u8, entries: Vec<StorageEntryMetadata>) -> PalletMetadata {
    PalletMetadata {
        name,
        storage: Some(PalletStorageMetadata {
            prefix: name,
            entries,
        }),
        calls: None,
        event: None,
        constants: vec![],
        error: None,
        associated_types: vec![],
        view_functions: vec![],
        index,
        docs: vec![],
        deprecation_info: ItemDeprecationInfo::NotDeprecated,
    }
}

/// The metadata as `RuntimeMetadataPrefixed` bytes (what `Metadata_metadata_at_version(16)`
/// returns inside its `Option<Vec<u8>>`).
pub fn build() -> Vec<u8> {
    build_layout(false)
}

/// The metadata after a runtime upgrade to the dynamic-tempo layout of newer runtimes: as
/// [`build`], plus the dynamic-tempo items (`LastEpochBlock`, `PendingEpochAt`,
/// `SubnetEpochIndex`) and the v2 share maps (`AlphaV2`, `TotalHotkeySharesV2`).
pub fn build_upgraded() -> Vec<u8> {
    build_layout(true)
}

fn build_layout(dynamic_tempo: bool) -> Vec<u8> {
    let mut system = pallet(
        "System",
        0,
        vec![
            value::<u32>("Number", 0u32.encode()),
            value::<Vec<EventRecord>>("Events", vec![0]),
        ],
    );
    system.event = Some(PalletEventMetadata {
        ty: meta_type::<SystemEvent>(),
        deprecation_info: EnumDeprecationInfo(BTreeMap::new()),
    });
    let timestamp = pallet("Timestamp", 2, vec![value::<u64>("Now", 0u64.encode())]);
    let mut entries = subtensor_storage();
    if dynamic_tempo {
        entries.push(map::<u16, u64>(
            "LastEpochBlock",
            &[StorageHasher::Identity],
            0u64.encode(),
        ));
        use StorageHasher::{Blake2_128Concat as B, Identity as I};
        entries.push(map::<u16, u64>("PendingEpochAt", &[I], 0u64.encode()));
        entries.push(map::<u16, u64>("SubnetEpochIndex", &[I], 0u64.encode()));
        let zero = (0u128, 0i64).encode();
        entries.push(map::<(AccountId32, u16), SafeFloat>(
            "TotalHotkeySharesV2",
            &[B, I],
            zero.clone(),
        ));
        entries.push(map::<(AccountId32, AccountId32, u16), SafeFloat>(
            "AlphaV2",
            &[B, B, I],
            zero,
        ));
    }
    let drand = pallet(
        "Drand",
        26,
        vec![
            opt_map::<u64, Pulse>("Pulses", &[StorageHasher::Blake2_128Concat]),
            value::<u64>("LastStoredRound", 0u64.encode()),
        ],
    );
    let mut subtensor = pallet("SubtensorModule", 7, entries);
    subtensor.calls = Some(PalletCallMetadata {
        ty: meta_type::<SubtensorCall>(),
        deprecation_info: EnumDeprecationInfo(BTreeMap::new()),
    });
    subtensor.error = Some(frame_metadata::v16::PalletErrorMetadata {
        ty: meta_type::<SubtensorError>(),
        deprecation_info: EnumDeprecationInfo(BTreeMap::new()),
    });
    subtensor.event = Some(PalletEventMetadata {
        ty: meta_type::<SubtensorEvent>(),
        deprecation_info: EnumDeprecationInfo(BTreeMap::new()),
    });

    let extensions = transaction_extensions();
    let all: Vec<Compact<u32>> = (0..extensions.len() as u32).map(Compact).collect();
    let extrinsic = ExtrinsicMetadata {
        versions: vec![4],
        address_ty: meta_type::<MultiAddress>(),
        call_ty: meta_type::<RuntimeCall>(),
        signature_ty: meta_type::<MultiSignature>(),
        transaction_extensions_by_version: BTreeMap::from([(0u8, all)]),
        transaction_extensions: extensions,
    };
    let outer = OuterEnums {
        call_enum_ty: meta_type::<RuntimeCall>(),
        event_enum_ty: meta_type::<RuntimeEvent>(),
        error_enum_ty: meta_type::<RuntimeError>(),
    };
    let metadata = RuntimeMetadataV16::new(
        vec![system, timestamp, subtensor, drand],
        extrinsic,
        vec![],
        outer,
        CustomMetadata {
            map: BTreeMap::new(),
        },
    );
    RuntimeMetadataPrefixed(META_RESERVED, RuntimeMetadata::V16(metadata)).encode()
}
