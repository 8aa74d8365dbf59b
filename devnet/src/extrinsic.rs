//! Signed extrinsics as a node checks them: decoded against the served metadata, the signed
//! payload rebuilt from the call, the transaction-extension values and their implicit data
//! (spec and transaction version, genesis hash, mortality checkpoint, metadata hash), and the
//! sr25519 signature verified. Anything else is refused as an invalid transaction.

use subxt::ext::codec::{Compact, Decode, Encode};
use subxt::ext::frame_decode::extrinsics::decode_extrinsic;
use subxt::utils::H256;

use super::chain::Chain;
use super::pools::Account;

/// A transaction the pool would refuse, with the node's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("Transaction has a bad signature")]
    BadProof,
    #[error("Transaction is outdated")]
    Stale,
    /// A transaction with the same sender and nonce is already in the pool.
    #[error("Priority is too low")]
    PriorityTooLow,
    #[error("Transaction will be valid in the future")]
    Future,
    #[error("Transaction has an ancient birth block")]
    AncientBirthBlock,
    #[error("Could not decode the extrinsic: {0}")]
    Undecodable(String),
    #[error("Unsigned transactions are not accepted by the devnet")]
    Unsigned,
    /// SubtensorTransactionExtension: the commit's reveal round is below `LastStoredRound`.
    #[error("Custom error: InvalidRevealRound (reveal_round is below Drand.LastStoredRound)")]
    InvalidRevealRound,
}

/// A decoded, verified signed extrinsic.
#[derive(Debug, Clone)]
pub struct Checked {
    pub signer: Account,
    pub nonce: u32,
    pub pallet_index: u8,
    pub call_index: u8,
    /// SCALE of the call's arguments.
    pub args: Vec<u8>,
    pub hash: H256,
}

/// The block hash a transaction's era signs (`CheckMortality`'s implicit): genesis for an
/// immortal one, else its birth block's.
fn checkpoint(chain: &Chain, era: &[u8]) -> Result<H256, Invalid> {
    match era {
        [0] => Ok(chain.blocks[0].hash),
        [a, b] => {
            // A pool validates as the block being built, best + 1 (substrate's
            // `validate_transaction`), and every pooled transaction goes into that block. Past
            // its era the birth moves on to a later block: its hash then fails the signature,
            // or it is not there yet.
            let best = chain.best();
            let (birth, _) = mortal_birth(u16::from_le_bytes([*a, *b]), best + 1);
            if birth > best {
                return Err(Invalid::AncientBirthBlock);
            }
            Ok(chain.blocks[birth as usize].hash)
        }
        _ => Err(Invalid::Undecodable("bad era".into())),
    }
}

/// Birth block of a mortal era (as `sp_runtime::generic::Era::birth`), from its two encoded bytes.
fn mortal_birth(encoded: u16, current: u64) -> (u64, u64) {
    let period = 2u64 << (encoded % 16);
    let quantize = (period >> 12).max(1);
    let phase = u64::from(encoded >> 4) * quantize;
    let birth = (current.max(phase) - phase) / period * period + phase;
    (birth, period)
}

/// Decodes and verifies `bytes` (an opaque extrinsic with its length prefix) at the best block.
pub fn check(chain: &Chain, bytes: &[u8]) -> Result<Checked, Invalid> {
    let metadata = &chain.encoder.metadata;
    let ext = decode_extrinsic(&mut &bytes[..], metadata, metadata.types())
        .map_err(|e| Invalid::Undecodable(e.to_string()))?;
    let (Some(sig), Some(exts)) = (ext.signature_payload(), ext.transaction_extension_payload())
    else {
        return Err(Invalid::Unsigned);
    };
    let address = &bytes[sig.address_range()];
    let signature = &bytes[sig.signature_range()];
    // MultiAddress::Id(AccountId32) and MultiSignature::Sr25519([u8; 64]).
    let signer: Account = match address {
        [0, rest @ ..] if rest.len() == 32 => rest.try_into().map_err(|_| Invalid::BadProof)?,
        _ => {
            return Err(Invalid::Undecodable(
                "only MultiAddress::Id signers are supported".into(),
            ));
        }
    };
    let signature: [u8; 64] = match signature {
        [1, rest @ ..] if rest.len() == 64 => rest.try_into().map_err(|_| Invalid::BadProof)?,
        _ => {
            return Err(Invalid::Undecodable(
                "only sr25519 signatures are supported".into(),
            ));
        }
    };

    let genesis = chain.blocks[0].hash;
    let mut nonce = None;
    let mut implicit = Vec::new();
    for arg in exts.iter() {
        let value = &bytes[arg.range()];
        match arg.name() {
            "CheckSpecVersion" => chain.runtime().spec_version.encode_to(&mut implicit),
            "CheckTxVersion" => 1u32.encode_to(&mut implicit),
            "CheckGenesis" => genesis.encode_to(&mut implicit),
            "CheckMortality" => checkpoint(chain, value)?.encode_to(&mut implicit),
            "CheckNonce" => {
                let n = Compact::<u32>::decode(&mut &value[..])
                    .map_err(|e| Invalid::Undecodable(format!("nonce: {e}")))?;
                nonce = Some(n.0);
            }
            // Mode::Disabled signs no metadata hash: the implicit is `None`.
            "CheckMetadataHash" => match value {
                [0] => None::<[u8; 32]>.encode_to(&mut implicit),
                _ => {
                    return Err(Invalid::Undecodable(
                        "metadata hash mode not supported".into(),
                    ));
                }
            },
            _ => {}
        }
    }
    let mut payload = bytes[ext.call_data_range()].to_vec();
    payload.extend_from_slice(&bytes[exts.range()]);
    payload.extend_from_slice(&implicit);
    let message = if payload.len() > 256 {
        sp_crypto_hashing::blake2_256(&payload).to_vec()
    } else {
        payload
    };
    let verified = schnorrkel::PublicKey::from_bytes(&signer)
        .and_then(|pk| {
            let sig = schnorrkel::Signature::from_bytes(&signature)?;
            pk.verify_simple(b"substrate", &message, &sig)
        })
        .is_ok();
    if !verified {
        return Err(Invalid::BadProof);
    }
    let nonce = nonce.ok_or_else(|| Invalid::Undecodable("no CheckNonce extension".into()))?;
    if nonce < chain.nonce(&signer) {
        return Err(Invalid::Stale);
    }
    let next = chain.next_nonce(&signer);
    if nonce < next {
        return Err(Invalid::PriorityTooLow);
    }
    if nonce > next {
        return Err(Invalid::Future);
    }
    Ok(Checked {
        signer,
        nonce,
        pallet_index: ext.pallet_index(),
        call_index: ext.call_index(),
        args: bytes[ext.call_data_args_range()].to_vec(),
        hash: H256(sp_crypto_hashing::blake2_256(bytes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mortal_birth_matches_substrate() {
        // Era::mortal(64, 1000): period 64, phase 1000 % 64 = 40 → encoded = 5 | (40 << 4).
        let encoded: u16 = 5 | (40 << 4);
        assert_eq!(mortal_birth(encoded, 1000), (1000, 64));
        assert_eq!(mortal_birth(encoded, 1063), (1000, 64));
        assert_eq!(mortal_birth(encoded, 1064), (1064, 64));
    }
}
