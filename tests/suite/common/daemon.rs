//! Daemons under test, configured as typed values: [`config`] gives the settings every daemon
//! test shares, the test changes fields of the [`Config`], and [`write`] is the one place a
//! test configuration becomes a file. Secrets (the API token) go to the daemon through the
//! environment, never through the file (the file's serialization redacts them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tenure::config::{Config, DatabaseUrl, LogFormat, Secret, UptimeSource};

/// A daemon of `netuid` against the chain at `chain` and the database at `db`: fast
/// reconnects, JSON logs at warn, ingestion from block 0, uptime from the API only.
pub fn config(chain: &str, db: &str, netuid: u16) -> Config {
    let mut c = Config::default();
    c.chain.endpoints = vec![chain.to_string()];
    c.chain.netuid = netuid;
    c.chain.reconnect_initial_delay_ms = 50;
    c.chain.reconnect_max_delay_secs = 1;
    c.database.url = DatabaseUrl::new(db);
    c.log.format = LogFormat::Json;
    c.log.level = "warn".into();
    c.ingest.start_block = Some(0);
    c.uptime.sources = vec![UptimeSource::Api];
    c
}

/// Signs as the devnet's validator, whose wallet the devnet wrote under `dir`.
pub fn devnet_wallet(c: &mut Config, dir: &Path) {
    c.wallet.path = dir.display().to_string();
    c.wallet.name = tenure_devnet::WALLET_NAME.into();
    c.wallet.hotkey = tenure_devnet::WALLET_HOTKEY.into();
}

/// HTTP (API and pages) on `127.0.0.1:port`, with `token` for the write endpoints.
pub fn http(c: &mut Config, port: u16, token: Option<&str>) {
    c.http.listen = ([127, 0, 0, 1], port).into();
    c.http.api_token = Secret::new(token.unwrap_or_default());
}

/// Writes `c` as `<dir>/<name>.toml`, without its API token (the CLI reads the same file and
/// needs none; [`spawn`] gives the daemon the token through the environment).
pub fn write(dir: &Path, name: &str, c: &Config) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let mut file = c.clone();
    file.http.api_token = Secret::new("");
    let text = toml::to_string(&file).expect("a configuration serializes");
    std::fs::write(&path, text).expect("write the test configuration");
    path
}

/// Starts `tenure --config <file> run` (the real binary) for `c`, written to `file` by
/// [`write`], with its secrets in the environment; stderr passes through.
pub fn spawn(file: &Path, c: &Config) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenure"));
    cmd.args(["--config", file.to_str().expect("UTF-8 path"), "run"])
        .env_remove("RUST_LOG")
        .env("TENURE__DATABASE__URL", c.database.url.expose())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if !c.http.api_token.is_empty() {
        cmd.env("TENURE__HTTP__API_TOKEN", c.http.api_token.expose());
    }
    cmd.spawn().expect("spawn tenure")
}

/// [`write`] then [`spawn`].
pub fn start(dir: &Path, name: &str, c: &Config) -> (PathBuf, Child) {
    let file = write(dir, name, c);
    let child = spawn(&file, c);
    (file, child)
}
