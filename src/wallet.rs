//! The validator hotkey, loaded from a Bittensor wallet keyfile
//! (`<path>/<name>/hotkeys/<hotkey>`): plain JSON with `secretPhrase` or `secretSeed`, or the
//! same JSON `$NACL`-encrypted (libsodium argon2i13 + xsalsa20poly1305, as btwallet writes it)
//! with the password from the environment. Secrets never reach a log line or an error message.

use std::path::{Path, PathBuf};

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use subxt_signer::sr25519::Keypair;

use crate::chain::AccountId;
use crate::config::WalletConfig;

/// btwallet's fixed salt for `$NACL` keyfiles.
const NACL_SALT: &[u8; 16] = b"\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1";
/// libsodium's `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE` / `MEMLIMIT_SENSITIVE`.
const NACL_OPSLIMIT: u32 = 8;
const NACL_MEMLIMIT_KIB: u32 = 512 * 1024;
const NACL_PREFIX: &[u8] = b"$NACL";

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("hotkey file {path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("hotkey file {path} is encrypted; set the password in ${var}")]
    NoPassword { path: PathBuf, var: String },
    #[error("hotkey file {path} does not decrypt: wrong password or corrupt file")]
    WrongPassword { path: PathBuf },
    #[error(
        "hotkey file {path} uses an unsupported encryption ({format}); re-encrypt it with a current btcli (NaCl)"
    )]
    Unsupported { path: PathBuf, format: &'static str },
    #[error("hotkey file {path} is not a keyfile: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// A hotkey that can sign.
pub struct Hotkey {
    pub keypair: Keypair,
    pub account: AccountId,
    pub path: PathBuf,
}

impl std::fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hotkey")
            .field("account", &self.account.to_ss58())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The keyfile path a wallet config names: `hotkey_file`, or `path/name/hotkeys/hotkey`
/// (`~` and `${VAR}` expanded).
pub fn keyfile_path(cfg: &WalletConfig) -> PathBuf {
    if !cfg.hotkey_file.is_empty() {
        return crate::config::expand_path(&cfg.hotkey_file);
    }
    crate::config::expand_path(&cfg.path)
        .join(&cfg.name)
        .join("hotkeys")
        .join(&cfg.hotkey)
}

/// Loads the configured hotkey; the password of an encrypted file comes from
/// `$<cfg.password_env>`.
pub fn load(cfg: &WalletConfig) -> Result<Hotkey, WalletError> {
    let password = std::env::var(&cfg.password_env).ok();
    load_file(&keyfile_path(cfg), password.as_deref(), &cfg.password_env)
}

pub fn load_file(
    path: &Path,
    password: Option<&str>,
    password_var: &str,
) -> Result<Hotkey, WalletError> {
    let unreadable = |e: std::io::Error| WalletError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let raw = std::fs::read(path).map_err(unreadable)?;
    warn_if_exposed(path);
    let json = if let Some(rest) = raw.strip_prefix(NACL_PREFIX) {
        let password = password.ok_or_else(|| WalletError::NoPassword {
            path: path.to_path_buf(),
            var: password_var.to_string(),
        })?;
        nacl_decrypt(rest, password).ok_or_else(|| WalletError::WrongPassword {
            path: path.to_path_buf(),
        })?
    } else if raw.starts_with(b"$ANSIBLE_VAULT") {
        return Err(WalletError::Unsupported {
            path: path.to_path_buf(),
            format: "ansible vault",
        });
    } else if raw.starts_with(b"gAAAAA") {
        return Err(WalletError::Unsupported {
            path: path.to_path_buf(),
            format: "legacy fernet",
        });
    } else {
        raw
    };
    let malformed = |reason: String| WalletError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let doc: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| malformed(format!("not JSON ({})", json_error_kind(&e))))?;
    let keypair = if let Some(phrase) = doc.get("secretPhrase").and_then(|v| v.as_str()) {
        let mnemonic = subxt_signer::bip39::Mnemonic::parse(phrase)
            .map_err(|_| malformed("secretPhrase is not a valid mnemonic".into()))?;
        Keypair::from_phrase(&mnemonic, None)
            .map_err(|_| malformed("secretPhrase does not derive a key".into()))?
    } else if let Some(seed) = doc.get("secretSeed").and_then(|v| v.as_str()) {
        let bytes: [u8; 32] = hex::decode(seed.trim_start_matches("0x"))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("secretSeed is not 32 hex bytes".into()))?;
        Keypair::from_secret_key(bytes)
            .map_err(|_| malformed("secretSeed does not derive a key".into()))?
    } else {
        return Err(malformed(
            "no secretPhrase or secretSeed (a public-only keyfile cannot sign)".into(),
        ));
    };
    let account = AccountId(keypair.public_key().0);
    if let Some(declared) = doc.get("ss58Address").and_then(|v| v.as_str())
        && declared != account.to_ss58()
    {
        return Err(malformed(format!(
            "ss58Address {declared} is not the key's account {}",
            account.to_ss58()
        )));
    }
    Ok(Hotkey {
        keypair,
        account,
        path: path.to_path_buf(),
    })
}

/// What kind of JSON error, without serde_json's message (which can quote the file's content).
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "io",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Eof => "truncated",
    }
}

fn nacl_key(password: &str) -> Option<[u8; 32]> {
    let params = argon2::Params::new(NACL_MEMLIMIT_KIB, NACL_OPSLIMIT, 1, Some(32)).ok()?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(password.as_bytes(), NACL_SALT, &mut key)
        .ok()?;
    Some(key)
}

/// `$NACL` body: 24-byte nonce then the secretbox ciphertext.
fn nacl_decrypt(body: &[u8], password: &str) -> Option<Vec<u8>> {
    if body.len() < 24 {
        return None;
    }
    let (nonce, ciphertext) = body.split_at(24);
    let key = nacl_key(password)?;
    XSalsa20Poly1305::new(&key.into())
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .ok()
}

/// Encrypts keyfile JSON as btwallet does (for tests and for operators migrating keys).
pub fn nacl_encrypt(json: &[u8], password: &str, nonce: [u8; 24]) -> Option<Vec<u8>> {
    let key = nacl_key(password)?;
    let ciphertext = XSalsa20Poly1305::new(&key.into())
        .encrypt(Nonce::from_slice(&nonce), json)
        .ok()?;
    Some([NACL_PREFIX, &nonce, &ciphertext].concat())
}

fn warn_if_exposed(path: &Path) {
    if exposed(path) {
        tracing::warn!(path = %path.display(), "hotkey file is readable by group or others; chmod 600 it");
    }
}

/// Whether a keyfile is readable by others than its owner.
#[cfg(unix)]
pub fn exposed(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
pub fn exposed(_path: &Path) -> bool {
    false
}
