//! Commit-reveal v4: weights timelock-encrypted to a future drand round, exactly as the chain's
//! own `tle` code decrypts them (BLS12-381 identity-based encryption with signatures in G1 and
//! the beacon key in G2, AES-GCM body, ark-serialize 0.4 compressed layout).
//!
//! Pure functions over bytes: the chain client encrypts; the devnet, playing the beacon with its
//! own test key, opens commits with its own code, so the format is checked from both sides.

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subxt::ext::codec::{Decode, Encode};
use timelock::curves::drand::TinyBLS381;
use timelock::ibe::fullident::Identity;
use timelock::stream_ciphers::AESGCMStreamCipherProvider;
use timelock::tlock::{EngineBLS, TLECiphertext, tld, tle};

type PublicKey = <TinyBLS381 as EngineBLS>::PublicKeyGroup;
type Signature = <TinyBLS381 as EngineBLS>::SignatureGroup;

/// drand quicknet, the beacon subtensor stores pulses of.
pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
pub const QUICKNET_GENESIS: u64 = 1_692_803_367;
pub const QUICKNET_PERIOD_SECS: u64 = 3;
/// The chain refuses commits larger than this (`BoundedVec<u8, ConstU32<5000>>`).
pub const MAX_COMMIT_BYTES: usize = 5000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DrandError {
    #[error("beacon public key is not hex: {0}")]
    KeyNotHex(String),
    #[error("beacon public key is not a compressed BLS12-381 G2 point (96 bytes)")]
    BadPublicKey,
    #[error("pulse signature is not a compressed BLS12-381 G1 point (48 bytes)")]
    BadSignature,
    #[error("ciphertext does not deserialize as a timelock ciphertext")]
    BadCiphertext,
    #[error("timelock encryption failed: {0}")]
    Encrypt(String),
    #[error("timelock decryption failed (wrong round or beacon): {0}")]
    Decrypt(String),
    #[error("commit of {0} bytes exceeds the chain's {MAX_COMMIT_BYTES}-byte limit")]
    TooLarge(usize),
}

/// A drand beacon: its public key and clock.
#[derive(Clone)]
pub struct Beacon {
    public_key: PublicKey,
    pub genesis_time: u64,
    pub period_secs: u64,
}

impl std::fmt::Debug for Beacon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Beacon")
            .field("public_key", &hex::encode(self.public_key_bytes()))
            .field("genesis_time", &self.genesis_time)
            .field("period_secs", &self.period_secs)
            .finish()
    }
}

impl Beacon {
    pub fn new(
        public_key_hex: &str,
        genesis_time: u64,
        period_secs: u64,
    ) -> Result<Self, DrandError> {
        let bytes = hex::decode(public_key_hex.trim_start_matches("0x"))
            .map_err(|e| DrandError::KeyNotHex(e.to_string()))?;
        let public_key =
            PublicKey::deserialize_compressed(&bytes[..]).map_err(|_| DrandError::BadPublicKey)?;
        Ok(Beacon {
            public_key,
            genesis_time,
            period_secs,
        })
    }

    pub fn quicknet() -> Self {
        Self::new(QUICKNET_PUBLIC_KEY, QUICKNET_GENESIS, QUICKNET_PERIOD_SECS)
            .expect("the quicknet key is a valid G2 point")
    }

    pub fn public_key_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.public_key
            .serialize_compressed(&mut out)
            .expect("serializing a point into a Vec cannot fail");
        out
    }

    /// The latest round published at unix time `secs` (round 1 at genesis).
    pub fn round_at(&self, secs: u64) -> u64 {
        if secs < self.genesis_time {
            return 0;
        }
        (secs - self.genesis_time) / self.period_secs.max(1) + 1
    }

    /// Encrypts `plaintext` so that the signature of `round` decrypts it; returns the
    /// ciphertext's serialized bytes (what `commit_timelocked_weights` carries).
    pub fn encrypt(&self, round: u64, plaintext: &[u8]) -> Result<Vec<u8>, DrandError> {
        let mut ephemeral = [0u8; 32];
        OsRng.fill_bytes(&mut ephemeral);
        let ct = tle::<TinyBLS381, AESGCMStreamCipherProvider, OsRng>(
            self.public_key,
            ephemeral,
            plaintext,
            identity(round),
            OsRng,
        )
        .map_err(|e| DrandError::Encrypt(format!("{e:?}")))?;
        let mut out = Vec::new();
        ct.serialize_compressed(&mut out)
            .map_err(|e| DrandError::Encrypt(e.to_string()))?;
        if out.len() > MAX_COMMIT_BYTES {
            return Err(DrandError::TooLarge(out.len()));
        }
        Ok(out)
    }
}

/// The IBE identity of a round, as drand signs it: sha256 of the round's big-endian bytes.
fn identity(round: u64) -> Identity {
    Identity::new(b"", vec![Sha256::digest(round.to_be_bytes()).to_vec()])
}

/// Decrypts a commit with a round's pulse signature (compressed G1), as the chain does.
pub fn decrypt(ciphertext: &[u8], signature: &[u8]) -> Result<Vec<u8>, DrandError> {
    let sig = Signature::deserialize_compressed(signature).map_err(|_| DrandError::BadSignature)?;
    let ct = TLECiphertext::<TinyBLS381>::deserialize_compressed(ciphertext)
        .map_err(|_| DrandError::BadCiphertext)?;
    tld::<TinyBLS381, AESGCMStreamCipherProvider>(ct, sig)
        .map_err(|e| DrandError::Decrypt(format!("{e:?}")))
}

/// The plaintext the chain expects inside a timelocked commit (`WeightsTlockPayload`).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[codec(crate = subxt::ext::codec)]
pub struct WeightsPayload {
    /// The committing hotkey's 32 raw bytes; the chain checks it equals the signer.
    pub hotkey: Vec<u8>,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// The drand round whose pulse reveals a commit made at `block`, as the Bittensor SDK computes
/// it (bittensor-drand `generate_commit`), with `now_secs` the unix time of `block`.
///
/// `netuid` is the netuid storage index, as the SDK passes it. Under the legacy schedule the
/// reveal epoch's first block is derived from the epoch formula; the reveal target is 3 blocks
/// into it.
pub fn reveal_round(
    beacon: &Beacon,
    block: u64,
    netuid: u16,
    tempo: u16,
    reveal_period_epochs: u64,
    now_secs: u64,
    block_time_secs: f64,
) -> u64 {
    let tempo_plus_one = u64::from(tempo) + 1;
    let netuid_plus_one = u64::from(netuid) + 1;
    let current_epoch = (block + netuid_plus_one) / tempo_plus_one;
    let reveal_epoch = current_epoch + reveal_period_epochs;
    let first_reveal_block = (reveal_epoch * tempo_plus_one).saturating_sub(netuid_plus_one);
    let target = first_reveal_block + 3;
    let secs_until = target.saturating_sub(block) as f64 * block_time_secs;
    let reveal_time = now_secs as f64 + secs_until;
    let round =
        ((reveal_time - beacon.genesis_time as f64) / beacon.period_secs.max(1) as f64).floor();
    (round as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypts_with_a_real_quicknet_signature() {
        // drand quicknet's published signature of round 1000 (ideal-lab5/timelock's example).
        let sig = hex::decode("b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39").unwrap();
        let ct = Beacon::quicknet()
            .encrypt(1000, b"Hello, Timelock!")
            .unwrap();
        assert_eq!(decrypt(&ct, &sig).unwrap(), b"Hello, Timelock!");
        // Another round's key does not open it.
        let other = Beacon::quicknet()
            .encrypt(1001, b"Hello, Timelock!")
            .unwrap();
        assert!(matches!(decrypt(&other, &sig), Err(DrandError::Decrypt(_))));
    }

    #[test]
    fn test_beacon_round_trip_and_layout() {
        // The devnet's beacon (its own key and decryption) is the other side of the exchange.
        let t = tenure_devnet::beacon::Beacon::from_seed(7);
        let beacon =
            Beacon::new(&t.public_key_hex(), QUICKNET_GENESIS, QUICKNET_PERIOD_SECS).unwrap();
        let payload = WeightsPayload {
            hotkey: vec![9; 32],
            uids: vec![0, 1, 5],
            values: vec![65535, 100, 7],
            version_key: 3,
        }
        .encode();
        let ct = beacon.encrypt(42, &payload).unwrap();
        assert!(ct.len() < MAX_COMMIT_BYTES);
        // The header's U is a compressed G2 point (96 bytes) at the start of the layout.
        assert_eq!(t.signature(42).len(), 48);
        let plain = decrypt(&ct, &t.signature(42)).unwrap();
        assert_eq!(
            WeightsPayload::decode(&mut &plain[..]).unwrap().uids,
            vec![0, 1, 5]
        );
        assert!(decrypt(&ct, &t.signature(43)).is_err());
        assert_eq!(
            decrypt(&ct[1..], &t.signature(42)),
            Err(DrandError::BadCiphertext)
        );
        // Its public key parses back as a beacon key.
        let hex_key = t.public_key_hex();
        assert_eq!(
            Beacon::new(&hex_key, 1, 3)
                .unwrap()
                .public_key_bytes()
                .len(),
            96
        );
        assert_eq!(
            Beacon::new("00", 1, 3).unwrap_err(),
            DrandError::BadPublicKey
        );
    }

    #[test]
    fn reveal_round_follows_the_sdk_formula() {
        let b = Beacon::quicknet();
        // netuid 1, tempo 360, block 1000: epoch 2, reveal epoch 3 starts at 3·361−2 = 1081,
        // target 1084 → 84 blocks · 12 s = 1008 s after now.
        let now = QUICKNET_GENESIS + 3000;
        assert_eq!(
            reveal_round(&b, 1000, 1, 360, 1, now, 12.0),
            (3000 + 1008) / 3
        );
        // Two reveal epochs later: one more tempo of 361 blocks.
        assert_eq!(
            reveal_round(&b, 1000, 1, 360, 2, now, 12.0),
            (3000 + 1008 + 361 * 12) / 3
        );
        assert_eq!(reveal_round(&b, 1000, 1, 360, 1, 0, 12.0), 1);
        assert_eq!(b.round_at(QUICKNET_GENESIS), 1);
        assert_eq!(b.round_at(QUICKNET_GENESIS + 7), 3);
    }
}
