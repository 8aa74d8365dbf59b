//! Hotkey loading from Bittensor wallet keyfiles generated in the test: plain seed, plain
//! mnemonic, $NACL-encrypted, wrong or missing password, missing file, public-only and
//! unsupported formats. No error message contains a secret.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use subxt_signer::sr25519::Keypair;
use tenure::config::WalletConfig;
use tenure::wallet::{self, WalletError};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join("w").join("hotkeys").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn seed_json(seed: [u8; 32]) -> String {
    let kp = Keypair::from_secret_key(seed).unwrap();
    let account = tenure::chain::AccountId(kp.public_key().0);
    serde_json::json!({
        "accountId": format!("0x{}", hex::encode(account.0)),
        "publicKey": format!("0x{}", hex::encode(account.0)),
        "secretSeed": format!("0x{}", hex::encode(seed)),
        "ss58Address": account.to_ss58(),
    })
    .to_string()
}

#[test]
fn plain_seed_and_phrase_keyfiles_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "seed", seed_json([5; 32]).as_bytes());
    let cfg = WalletConfig {
        path: dir.path().to_string_lossy().into(),
        name: "w".into(),
        hotkey: "seed".into(),
        password_env: "TENURE_TEST_UNSET_PASSWORD".into(),
        ..WalletConfig::default()
    };
    assert_eq!(wallet::keyfile_path(&cfg), path);
    // A credential file named directly, as systemd's LoadCredential= provides it, through a
    // variable `cargo test` sets (the suite is one process: it never sets variables itself).
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let creds = manifest.join("target").join("wallet-test-credentials");
    std::fs::create_dir_all(&creds).unwrap();
    let creds = tempfile::tempdir_in(&creds).unwrap();
    let cred_file = write(creds.path(), "seed", seed_json([5; 32]).as_bytes());
    let relative = cred_file.strip_prefix(manifest).unwrap().display();
    let direct = WalletConfig {
        hotkey_file: format!("${{CARGO_MANIFEST_DIR}}/{relative}"),
        ..cfg.clone()
    };
    assert_eq!(wallet::keyfile_path(&direct), cred_file);
    assert_eq!(
        wallet::load(&direct).unwrap().account,
        wallet::load(&cfg).unwrap().account
    );
    let unset = WalletConfig {
        hotkey_file: "${TENURE_TEST_NEVER_SET}/hotkey".into(),
        ..cfg.clone()
    };
    assert_eq!(
        wallet::keyfile_path(&unset),
        std::path::PathBuf::from("${TENURE_TEST_NEVER_SET}/hotkey"),
        "an unset variable stays visible in the error's path"
    );
    let hk = wallet::load(&cfg).unwrap();
    assert_eq!(
        hk.account.0,
        Keypair::from_secret_key([5; 32]).unwrap().public_key().0
    );
    // Debug output shows the account, never the key.
    assert!(!format!("{hk:?}").contains(&hex::encode([5u8; 32])));

    let mnemonic = subxt_signer::bip39::Mnemonic::from_entropy(&[7u8; 16]).unwrap();
    let phrase = mnemonic.to_string();
    let path = write(
        dir.path(),
        "phrase",
        serde_json::json!({ "secretPhrase": phrase })
            .to_string()
            .as_bytes(),
    );
    let hk = wallet::load_file(&path, None, "X").unwrap();
    assert_eq!(
        hk.account.0,
        Keypair::from_phrase(&mnemonic, None)
            .unwrap()
            .public_key()
            .0
    );
}

#[test]
fn encrypted_keyfiles_need_the_right_password() {
    let dir = tempfile::tempdir().unwrap();
    let body = wallet::nacl_encrypt(seed_json([9; 32]).as_bytes(), "Tr0ub4dor&3", [3; 24]).unwrap();
    assert!(body.starts_with(b"$NACL"));
    let path = write(dir.path(), "enc", &body);
    let hk = wallet::load_file(&path, Some("Tr0ub4dor&3"), "PW").unwrap();
    assert_eq!(
        hk.account.0,
        Keypair::from_secret_key([9; 32]).unwrap().public_key().0
    );
    let err = wallet::load_file(&path, Some("Xyzzy-42"), "PW").unwrap_err();
    assert!(matches!(err, WalletError::WrongPassword { .. }), "{err}");
    assert!(
        !err.to_string().contains("Xyzzy"),
        "the password leaked: {err}"
    );
    let err = wallet::load_file(&path, None, "MY_PW").unwrap_err();
    assert!(err.to_string().contains("$MY_PW"), "{err}");
}

#[test]
fn bad_keyfiles_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = wallet::load_file(&dir.path().join("missing"), None, "X").unwrap_err();
    assert!(matches!(err, WalletError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");

    let public = write(
        dir.path(),
        "pub",
        br#"{"ss58Address":"5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX"}"#,
    );
    let err = wallet::load_file(&public, None, "X").unwrap_err();
    assert!(err.to_string().contains("cannot sign"), "{err}");

    let fernet = write(dir.path(), "fernet", b"gAAAAAB-old");
    let err = wallet::load_file(&fernet, None, "X").unwrap_err();
    assert!(matches!(err, WalletError::Unsupported { .. }), "{err}");

    let garbage = write(dir.path(), "garbage", b"{ not json");
    let err = wallet::load_file(&garbage, None, "X").unwrap_err();
    assert!(matches!(err, WalletError::Malformed { .. }), "{err}");

    // A keyfile whose address is not its key's is refused.
    let mut doc: serde_json::Value = serde_json::from_str(&seed_json([1; 32])).unwrap();
    doc["ss58Address"] = serde_json::json!(tenure::chain::AccountId([2; 32]).to_ss58());
    let lying = write(dir.path(), "lying", doc.to_string().as_bytes());
    assert!(wallet::load_file(&lying, None, "X").is_err());

    let open = write(dir.path(), "open", seed_json([4; 32]).as_bytes());
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(wallet::exposed(&open));
    assert!(!wallet::exposed(&lying));
}

#[test]
fn the_devnet_wallet_loads() {
    let dir = tempfile::tempdir().unwrap();
    let secret = tenure_devnet::chain::validator_secret(7, 0);
    let path = tenure_devnet::write_wallet(dir.path(), &secret).unwrap();
    let hk = wallet::load_file(&path, None, "X").unwrap();
    assert_eq!(hk.account.0, tenure_devnet::chain::sr25519_public(&secret));
}

#[test]
fn a_keyfile_encrypted_by_libsodium_decrypts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nacl-hotkey");
    let hk = wallet::load_file(&path, Some("correct horse"), "PW").unwrap();
    assert_eq!(
        hk.account.0,
        Keypair::from_secret_key([0x11; 32]).unwrap().public_key().0
    );
}
