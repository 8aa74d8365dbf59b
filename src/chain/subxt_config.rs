//! Our subxt `Config`: subtensor's transaction extensions, so that one signer produces valid
//! extrinsics for both runtime layouts — spec 393's `ChargeTransactionPayment` and newer
//! runtimes' `ChargeTransactionPaymentWrapper`. subxt encodes only the extensions the metadata
//! names, so carrying both is safe; the subtensor-specific extensions carry no data and subxt
//! skips them.

use scale_info::PortableRegistry;
use subxt::config::substrate::{DynamicHasher256, SubstrateHeader};
use subxt::config::transaction_extensions::{
    ChargeTransactionPayment, ChargeTransactionPaymentParams, CheckGenesis, CheckMetadataHash,
    CheckMortality, CheckMortalityParams, CheckNonce, CheckNonceParams, CheckSpecVersion,
    CheckTxVersion, VerifySignature,
};
use subxt::config::{ClientState, Config, HashFor, Hasher, SubstrateConfig, TransactionExtension};
use subxt::ext::codec::{Compact, Encode};
use subxt::ext::frame_decode;
use subxt::utils::{AccountId32, MultiAddress, MultiSignature};

/// subtensor's runtime, as subxt needs to know it. Everything but the extension list is
/// delegated to subxt's `SubstrateConfig` (metadata cache, genesis hash, offline versions).
#[derive(Debug, Clone, Default)]
pub struct Subtensor {
    inner: SubstrateConfig,
}

impl Subtensor {
    pub fn new(inner: SubstrateConfig) -> Self {
        Subtensor { inner }
    }
}

pub type Extensions = (
    VerifySignature<Subtensor>,
    CheckSpecVersion,
    CheckTxVersion,
    CheckNonce,
    CheckGenesis<Subtensor>,
    CheckMortality<Subtensor>,
    ChargeTransactionPayment,
    ChargeTransactionPaymentWrapper,
    CheckMetadataHash,
);

pub type Params = <Extensions as subxt::config::TransactionExtensions<Subtensor>>::Params;

/// Extension parameters for one submission: an explicit nonce, the given mortality, no tip.
pub fn params(nonce: u64, mortality: CheckMortalityParams<Subtensor>) -> Params {
    (
        (),
        (),
        (),
        CheckNonceParams::with_nonce(nonce),
        (),
        mortality,
        ChargeTransactionPaymentParams::no_tip(),
        (),
        (),
    )
}

impl Config for Subtensor {
    type AccountId = AccountId32;
    type Address = MultiAddress<AccountId32, u32>;
    type Signature = MultiSignature;
    type Hasher = DynamicHasher256;
    type Header = SubstrateHeader<<DynamicHasher256 as Hasher>::Hash>;
    type TransactionExtensions = Extensions;
    type AssetId = u32;

    fn genesis_hash(&self) -> Option<HashFor<Self>> {
        self.inner.genesis_hash()
    }

    fn spec_and_transaction_version_for_block_number(
        &self,
        block_number: u64,
    ) -> Option<(u32, u32)> {
        self.inner
            .spec_and_transaction_version_for_block_number(block_number)
    }

    fn metadata_for_spec_version(&self, spec_version: u32) -> Option<subxt::metadata::ArcMetadata> {
        self.inner.metadata_for_spec_version(spec_version)
    }

    fn set_metadata_for_spec_version(
        &self,
        spec_version: u32,
        metadata: subxt::metadata::ArcMetadata,
    ) {
        self.inner
            .set_metadata_for_spec_version(spec_version, metadata)
    }
}

/// Newer runtimes' fee extension: the same `Compact` tip as `ChargeTransactionPayment`, under
/// another name. Validators pay no fee for weights, so the tip is always zero.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChargeTransactionPaymentWrapper;

impl<T: Config> TransactionExtension<T> for ChargeTransactionPaymentWrapper {
    type Decoded = subxt::ext::scale_value::Value;
    type Params = ();

    fn new(
        _client: &ClientState<T>,
        _params: Self::Params,
    ) -> Result<Self, subxt::error::TransactionExtensionError> {
        Ok(ChargeTransactionPaymentWrapper)
    }
}

impl frame_decode::extrinsics::TransactionExtension<PortableRegistry>
    for ChargeTransactionPaymentWrapper
{
    const NAME: &str = "ChargeTransactionPaymentWrapper";

    fn encode_value_to(
        &self,
        _type_id: u32,
        _types: &PortableRegistry,
        out: &mut Vec<u8>,
    ) -> Result<(), frame_decode::extrinsics::TransactionExtensionError> {
        Compact(0u128).encode_to(out);
        Ok(())
    }

    fn encode_implicit_to(
        &self,
        _type_id: u32,
        _types: &PortableRegistry,
        _out: &mut Vec<u8>,
    ) -> Result<(), frame_decode::extrinsics::TransactionExtensionError> {
        Ok(())
    }
}
