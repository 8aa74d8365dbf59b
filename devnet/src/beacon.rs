//! The drand beacon the devnet plays for commit-reveal: a BLS12-381 key of its own (derived from
//! the seed) on quicknet's clock. It publishes a round's signature as the pulse and opens
//! timelocked commits with it, as subtensor's `pallet_drand` and reveal logic do, written here
//! against the `timelock` crate and not shared with tenure's encryption.

use ark_ec::Group;
use ark_ff::PrimeField;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use sha2::{Digest, Sha256};
use subxt::ext::codec::{Decode, Encode};
use timelock::curves::drand::TinyBLS381;
use timelock::ibe::fullident::Identity;
use timelock::stream_ciphers::AESGCMStreamCipherProvider;
use timelock::tlock::{EngineBLS, TLECiphertext, tld};

type PublicKey = <TinyBLS381 as EngineBLS>::PublicKeyGroup;
type Signature = <TinyBLS381 as EngineBLS>::SignatureGroup;
type Scalar = <TinyBLS381 as EngineBLS>::Scalar;

/// quicknet's genesis (unix seconds) and period: round 1 at genesis, one round every 3 s.
pub const GENESIS_SECS: u64 = 1_692_803_367;
pub const PERIOD_SECS: u64 = 3;

/// What a timelocked commit decrypts to (subtensor's `WeightsTlockPayload`).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[codec(crate = subxt::ext::codec)]
pub struct WeightsTlockPayload {
    pub hotkey: Vec<u8>,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// A beacon whose secret key the devnet holds.
pub struct Beacon {
    secret: Scalar,
    public: PublicKey,
}

impl Beacon {
    /// The key of devnet seed `seed`: the same seed always gives the same key.
    pub fn from_seed(seed: u64) -> Self {
        let digest =
            Sha256::digest([b"tenure devnet drand".as_slice(), &seed.to_le_bytes()].concat());
        let secret = Scalar::from_le_bytes_mod_order(&digest);
        Beacon {
            secret,
            public: PublicKey::generator() * secret,
        }
    }

    /// The public key, compressed G2 (96 bytes): what a client encrypts to.
    pub fn public_key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.public
            .serialize_compressed(&mut out)
            .expect("serializing a point into a Vec cannot fail");
        out
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    /// The latest round published at unix time `secs`.
    pub fn round_at(&self, secs: u64) -> u64 {
        secs.checked_sub(GENESIS_SECS)
            .map_or(0, |since| since / PERIOD_SECS + 1)
    }

    /// The pulse signature of `round` (compressed G1, 48 bytes): the key extracted for the
    /// identity sha256(round as big-endian bytes).
    pub fn signature(&self, round: u64) -> Vec<u8> {
        let id = Identity::new(b"", vec![Sha256::digest(round.to_be_bytes()).to_vec()]);
        let sig: Signature = id.extract::<TinyBLS381>(self.secret).0;
        let mut out = Vec::new();
        sig.serialize_compressed(&mut out)
            .expect("serializing a point into a Vec cannot fail");
        out
    }
}

/// Opens a timelocked commit with a pulse signature, as the chain does when the round arrives.
pub fn open(ciphertext: &[u8], signature: &[u8]) -> Result<Vec<u8>, String> {
    let sig = Signature::deserialize_compressed(signature)
        .map_err(|_| "pulse signature is not a compressed G1 point".to_string())?;
    let ct = TLECiphertext::<TinyBLS381>::deserialize_compressed(ciphertext)
        .map_err(|_| "commit is not a timelock ciphertext".to_string())?;
    tld::<TinyBLS381, AESGCMStreamCipherProvider>(ct, sig)
        .map_err(|e| format!("timelock decryption failed: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_signatures_and_rounds_are_deterministic() {
        let (a, b) = (Beacon::from_seed(1), Beacon::from_seed(2));
        assert_eq!(a.public_key().len(), 96);
        assert_eq!(a.public_key(), Beacon::from_seed(1).public_key());
        assert_ne!(a.public_key(), b.public_key());
        assert_eq!(a.signature(5).len(), 48);
        assert_ne!(a.signature(5), a.signature(6));
        assert_eq!(a.round_at(GENESIS_SECS - 1), 0);
        assert_eq!(a.round_at(GENESIS_SECS), 1);
        assert_eq!(a.round_at(GENESIS_SECS + 7), 3);
        assert!(open(&[1, 2, 3], &a.signature(5)).is_err());
    }
}
