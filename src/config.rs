//! Configuration: one TOML file, every key overridable by `TENURE__SECTION__KEY` environment
//! variables, deserialized into typed structs (unknown keys rejected) and validated once at
//! startup. Every default here is the default docs/rules.md states.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

mod validate;

/// A path from the configuration with a leading `~/` and every `${VAR}` expanded (an unset
/// variable is left as written, so the error that follows shows it).
pub fn expand_path(p: &str) -> std::path::PathBuf {
    let mut out = String::new();
    let mut rest = p;
    if let Some(r) = rest.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        out.push_str(&home.to_string_lossy());
        out.push('/');
        rest = r;
    }
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match std::env::var(name) {
            Ok(v) if !name.is_empty() => out.push_str(&v),
            _ => out.push_str(&rest[start..start + len + 1]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    std::path::PathBuf::from(out)
}

/// The prefix and separator of environment overrides: `TENURE__VESTING__LOOKBACK_DAYS=120`.
pub const ENV_PREFIX: &str = "TENURE";
pub const ENV_SEPARATOR: &str = "__";

/// Keys whose environment override is a comma-separated list.
const ENV_LIST_KEYS: &[&str] = &[
    "chain.endpoints",
    "chain.archive_endpoints",
    "uptime.sources",
    "weights.exempt_uids",
    "uptime.time.peak_hours_utc",
    "uptime.time.holidays",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {}: not found (pass --config PATH, or copy config/tenure.example.toml)", .file.display())]
    Missing { file: PathBuf },
    #[error("config file {}: {message}", .file.display())]
    Unreadable { file: PathBuf, message: String },
    #[error("config file {}: key `{key}`{origin}: {message}", .file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        /// Where the offending value came from, when it was an environment variable.
        origin: String,
        message: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A secret string (token, password, URL with credentials): never printed, never logged.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "<redacted>" })
    }
}

/// A database URL: printed with its password masked, so the rest stays useful for diagnosis.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(value: impl Into<String>) -> Self {
        DatabaseUrl(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with every secret replaced by `<redacted>`: the `user:password@` part and any
    /// query parameter that can carry one (`?password=`, `sslpassword=`, anything naming a
    /// secret, token or key).
    pub fn redacted(&self) -> String {
        let Ok(mut u) = url::Url::parse(&self.0) else {
            return "<unparseable, redacted>".to_string();
        };
        if u.password().is_some() {
            // set_password only fails for URLs that cannot carry credentials.
            let _ = u.set_password(Some("<redacted>"));
        }
        if u.query().is_some() {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let secret = secret_parameter(&k);
                    (
                        k.into_owned(),
                        if secret {
                            "<redacted>".into()
                        } else {
                            v.into_owned()
                        },
                    )
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        u.to_string()
    }
}

/// Whether a URL query parameter can carry a secret.
fn secret_parameter(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "auth", "credential"]
        .iter()
        .any(|w| n.contains(w))
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub chain: ChainConfig,
    pub wallet: WalletConfig,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub web: WebConfig,
    pub log: LogConfig,
    pub daemon: DaemonConfig,
    pub ha: HaConfig,
    pub ingest: IngestConfig,
    pub scores: ScoresConfig,
    pub vesting: VestingConfig,
    pub uptime: UptimeConfig,
    pub weights: WeightsConfig,
    pub network: NetworkConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainBackend {
    /// The legacy Substrate RPC set (`chain_*`, `state_*`, `author_*`): what every subtensor
    /// node serves, and the only backend whose finalized stream never silently yields nothing.
    Legacy,
    /// subxt's default: chainHead/archive RPCs when the node advertises them, legacy otherwise.
    Combined,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// WebSocket endpoints, tried in order (failover).
    pub endpoints: Vec<String>,
    /// Archive nodes (optional): state older than the endpoints keep (a pruning node keeps a
    /// few hundred blocks) is read from them, e.g. when back-filling after a long outage.
    pub archive_endpoints: Vec<String>,
    pub netuid: u16,
    /// Mechanism (sub-subnet) whose weights we set; 0 is the subnet's main mechanism.
    pub mechid: u8,
    pub block_time_secs: u64,
    pub backend: ChainBackend,
    /// Upper bound of any single RPC call.
    pub rpc_timeout_secs: u64,
    /// No finalized block for this long ⇒ the connection is rebuilt.
    pub stall_timeout_secs: u64,
    pub reconnect_initial_delay_ms: u64,
    pub reconnect_max_delay_secs: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            endpoints: vec!["ws://127.0.0.1:9944".into()],
            archive_endpoints: Vec::new(),
            netuid: 1,
            mechid: 0,
            block_time_secs: 12,
            backend: ChainBackend::Legacy,
            rpc_timeout_secs: 30,
            stall_timeout_secs: 60,
            reconnect_initial_delay_ms: 500,
            reconnect_max_delay_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    /// Bittensor wallets directory (`~` and `${VAR}` are expanded).
    pub path: String,
    pub name: String,
    pub hotkey: String,
    /// The hotkey file itself, instead of `path/name/hotkeys/hotkey` (`~` and `${VAR}` are
    /// expanded): e.g. `${CREDENTIALS_DIRECTORY}/hotkey` under systemd's `LoadCredential=`, or
    /// `/run/secrets/hotkey` in a container.
    pub hotkey_file: String,
    /// Name of the environment variable holding the password of an encrypted hotkey file.
    pub password_env: String,
}

impl Default for WalletConfig {
    fn default() -> Self {
        WalletConfig {
            path: "~/.bittensor/wallets".into(),
            name: "default".into(),
            hotkey: "default".into(),
            hotkey_file: String::new(),
            password_env: "TENURE_WALLET_PASSWORD".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    /// How long start-up keeps retrying an unreachable database before giving up.
    pub startup_retry_secs: u64,
    /// PostgreSQL's `statement_timeout` on every connection (migrations excepted): no query
    /// waits longer, whatever lock or load it meets.
    pub statement_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: DatabaseUrl::new("postgres://tenure@127.0.0.1:5432/tenure"),
            max_connections: 10,
            connect_timeout_secs: 10,
            startup_retry_secs: 60,
            statement_timeout_secs: 120,
        }
    }
}

/// The public web pages (leaderboard, miners, status): read-only, no token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub enabled: bool,
    /// Serve the pages on their own address (e.g. `0.0.0.0:8080` for the public while the API
    /// stays on loopback); absent ⇒ on `http.listen`, beside the API.
    pub listen: Option<SocketAddr>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            listen: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub enabled: bool,
    /// Loopback by default: the write endpoints carry a token, but nothing here is meant for the
    /// open internet.
    pub listen: SocketAddr,
    /// Bearer token for the write endpoints; empty ⇒ writes are refused.
    pub api_token: Secret,
    /// File holding the bearer token (e.g. a systemd credential); alternative to `api_token`.
    pub api_token_file: String,
    /// A non-loopback `listen` without a token refuses to start unless this is set.
    pub allow_public_without_token: bool,
    /// Open connections per listener; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Open connections per client address and listener.
    pub max_connections_per_client: usize,
    /// A request's headers, and the next request on an idle keep-alive connection, must arrive
    /// within this time or the connection is closed.
    pub header_read_timeout_secs: u64,
    /// A whole request (body and handler) must complete within this time (503 otherwise).
    pub request_timeout_secs: u64,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
}

impl HttpConfig {
    /// The write endpoints' token: `api_token`, or the contents of `api_token_file` (trimmed).
    /// `None` when neither is set (writes are refused).
    pub fn token(&self) -> Result<Option<Secret>, String> {
        if !self.api_token.is_empty() {
            return Ok(Some(self.api_token.clone()));
        }
        if self.api_token_file.is_empty() {
            return Ok(None);
        }
        let path = expand_path(&self.api_token_file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
        let token = text.trim();
        if token.len() < 16 {
            return Err(format!(
                "{}: the token must be at least 16 characters long",
                path.display()
            ));
        }
        Ok(Some(Secret::new(token)))
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9477)),
            api_token: Secret::default(),
            api_token_file: String::new(),
            allow_public_without_token: false,
            max_connections: 256,
            max_connections_per_client: 32,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            max_body_bytes: 8 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter (`info`, `tenure=debug,sqlx=warn`); `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// After SIGTERM/SIGINT, how long tasks get to finish before the process exits anyway.
    pub shutdown_deadline_secs: u64,
    /// A task (ingest, weights, uptime probes) silent for longer than this fails `/readyz` with
    /// what it waits on, and sets `tenure_task_stalled`. The weights task's bound is at least
    /// its submission's finalization timeout.
    pub progress_timeout_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_deadline_secs: 20,
            progress_timeout_secs: 300,
        }
    }
}

/// High availability: daemons sharing one database elect one leader, the only one that submits
/// weights; all of them ingest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaConfig {
    /// This instance's name in the lease, `/readyz`, logs and `leader_log`; empty ⇒
    /// `<hostname>-<pid>`.
    pub instance: String,
    /// How often the leader checks that its lease connection still holds the lock (and a
    /// standby tries to take it).
    pub lease_check_ms: u64,
    /// After taking the lease from a leader that did not release it, how long to wait before
    /// submitting: longer than the old leader needs to notice it lost the lease (two checks).
    pub takeover_delay_ms: u64,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            instance: String::new(),
            lease_check_ms: 1000,
            takeover_delay_ms: 5000,
        }
    }
}

impl HaConfig {
    /// The configured instance name, or `<hostname>-<pid>`.
    pub fn instance_name(&self) -> String {
        if !self.instance.is_empty() {
            return self.instance.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "tenure".into());
        format!("{host}-{}", std::process::id())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// First block on a database with no cursor; absent ⇒ the finalized head.
    pub start_block: Option<u64>,
    /// Blocks whose chain reads may be in flight while one is written (back-fill pipeline).
    pub pipeline_depth: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            start_block: None,
            pipeline_depth: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScoresSource {
    /// `POST /v1/scores` batches of `hotkey → score`.
    Api,
    /// The validator writes rows into the `base_scores` table.
    Table,
    /// Every registered miner scores 1.0.
    Uniform,
}

impl ScoresSource {
    pub fn name(self) -> &'static str {
        match self {
            ScoresSource::Api => "api",
            ScoresSource::Table => "table",
            ScoresSource::Uniform => "uniform",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoresConfig {
    pub source: ScoresSource,
    /// A base score older than this many blocks is stale and never used.
    pub max_age_blocks: u64,
}

impl Default for ScoresConfig {
    fn default() -> Self {
        ScoresConfig {
            source: ScoresSource::Api,
            max_age_blocks: 720,
        }
    }
}

/// Whether a reward system changes weights (`on`), is only computed and recorded (`shadow`), or
/// is not computed at all (`off`). The configured mode is the initial one; the run-time mode is
/// stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    On,
    Shadow,
    Off,
}

impl Mode {
    /// The name used in the configuration, the database and the API.
    pub fn name(self) -> &'static str {
        match self {
            Mode::On => "on",
            Mode::Shadow => "shadow",
            Mode::Off => "off",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = crate::text_column::UnknownName;

    fn from_str(s: &str) -> Result<Mode, Self::Err> {
        match s {
            "on" => Ok(Mode::On),
            "shadow" => Ok(Mode::Shadow),
            "off" => Ok(Mode::Off),
            other => Err(crate::text_column::UnknownName::new(
                "mode",
                other,
                "on, shadow, off",
            )),
        }
    }
}

crate::text_column!(Mode);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StakeScope {
    /// All alpha the miner's coldkey holds in the subnet, on any hotkey.
    Coldkey,
    /// Only the coldkey's alpha on the miner's own hotkey.
    Hotkey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VestingCombine {
    Bettensor,
    Product,
    Continuous,
}

/// A tier reached when the metric is `>= min`; the highest tier reached wins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiplierTier {
    pub min: f64,
    pub multiplier: f64,
}

/// A bonus (a fraction: 0.25 = +25%) reached when the metric is `>= min`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusTier {
    pub min: f64,
    pub bonus: f64,
}

fn mtiers(t: &[(f64, f64)]) -> Vec<MultiplierTier> {
    t.iter()
        .map(|&(min, multiplier)| MultiplierTier { min, multiplier })
        .collect()
}

fn btiers(t: &[(f64, f64)]) -> Vec<BonusTier> {
    t.iter()
        .map(|&(min, bonus)| BonusTier { min, bonus })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VestingConfig {
    pub mode: Mode,
    pub stake_scope: StakeScope,
    pub lookback_days: u32,
    /// Tiers on `holding_fraction` (0..=1).
    pub amount_tiers: Vec<MultiplierTier>,
    /// Tiers on `holding_days`.
    pub duration_tiers: Vec<MultiplierTier>,
    pub max_multiplier: f64,
    pub combine: VestingCombine,
    /// `continuous` combine: the fraction that earns the full amount factor.
    pub continuous_fraction_target: f64,
    /// `continuous` combine: the days that earn the full duration factor.
    pub continuous_days_target: f64,
}

impl Default for VestingConfig {
    fn default() -> Self {
        VestingConfig {
            mode: Mode::On,
            stake_scope: StakeScope::Coldkey,
            lookback_days: 90,
            amount_tiers: mtiers(&[(0.3, 1.1), (0.5, 1.2), (0.7, 1.3)]),
            duration_tiers: mtiers(&[(14.0, 1.1), (30.0, 1.2), (60.0, 1.3)]),
            max_multiplier: 1.5,
            combine: VestingCombine::Bettensor,
            continuous_fraction_target: 0.9,
            continuous_days_target: 30.0,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum UptimeSource {
    /// The daemon probes every miner's served axon.
    Probe,
    /// The validator POSTs observations to `/v1/uptime`.
    Api,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UptimeCombine {
    /// The design document's raw product mapped onto `[1, max_multiplier]` so that a miner
    /// holding every persistent family's top tier reaches the cap: no tier is left dead.
    Scaled,
    /// The raw product, clamped (the top tiers can be dead under the cap).
    Multiplicative,
    /// `1 + Σ bonuses`, clamped.
    Additive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UptimeConfig {
    pub mode: Mode,
    pub sources: Vec<UptimeSource>,
    pub probe_interval_blocks: u64,
    /// Raw samples are kept this long; hourly and daily rollups for `rollup_retention_days`.
    pub raw_retention_days: u32,
    pub rollup_retention_days: u32,
    pub current_window_blocks: u64,
    pub historical_window_blocks: u64,
    pub combine: UptimeCombine,
    pub max_multiplier: f64,
    pub probe: ProbeConfig,
    pub api: UptimeApiConfig,
    pub reliability: ReliabilityConfig,
    pub consistency: ConsistencyConfig,
    pub longevity: LongevityConfig,
    pub reliability_factor: ReliabilityFactorConfig,
    pub time: TimeBonusConfig,
    pub milestones: MilestonesConfig,
    pub contribution: ContributionConfig,
    pub trend: TrendConfig,
}

impl Default for UptimeConfig {
    fn default() -> Self {
        UptimeConfig {
            mode: Mode::On,
            sources: vec![UptimeSource::Probe],
            probe_interval_blocks: 25,
            raw_retention_days: 14,
            rollup_retention_days: 400,
            current_window_blocks: 7_200,
            historical_window_blocks: 14_400,
            combine: UptimeCombine::Scaled,
            max_multiplier: 2.0,
            probe: ProbeConfig::default(),
            api: UptimeApiConfig::default(),
            reliability: ReliabilityConfig::default(),
            consistency: ConsistencyConfig::default(),
            longevity: LongevityConfig::default(),
            reliability_factor: ReliabilityFactorConfig::default(),
            time: TimeBonusConfig::default(),
            milestones: MilestonesConfig::default(),
            contribution: ContributionConfig::default(),
            trend: TrendConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    pub timeout_ms: u64,
    pub concurrency: usize,
    /// Empty ⇒ a TCP connect is the probe; set ⇒ an HTTP GET of this path answered 2xx.
    pub http_path: String,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            timeout_ms: 3_000,
            concurrency: 256,
            http_path: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UptimeApiConfig {
    /// Largest accepted `POST /v1/uptime` batch, in observations.
    pub max_batch: usize,
}

impl Default for UptimeApiConfig {
    fn default() -> Self {
        UptimeApiConfig { max_batch: 10_000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReliabilityConfig {
    /// Tiers on `current_uptime`.
    pub tiers: Vec<BonusTier>,
}

impl Default for ReliabilityConfig {
    fn default() -> Self {
        ReliabilityConfig {
            tiers: btiers(&[
                (0.75, 0.05),
                (0.85, 0.10),
                (0.90, 0.15),
                (0.95, 0.20),
                (1.0, 0.25),
            ]),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsistencyConfig {
    /// A day counts towards the run when its uptime is at least this.
    pub threshold: f64,
    /// Tiers on the run length in days.
    pub tiers: Vec<BonusTier>,
}

impl Default for ConsistencyConfig {
    fn default() -> Self {
        ConsistencyConfig {
            threshold: 0.95,
            tiers: btiers(&[(3.0, 0.02), (7.0, 0.05), (14.0, 0.10), (30.0, 0.15)]),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LongevityConfig {
    /// A day below this uptime resets the run.
    pub floor: f64,
    pub tiers: Vec<BonusTier>,
}

impl Default for LongevityConfig {
    fn default() -> Self {
        LongevityConfig {
            floor: 0.5,
            tiers: btiers(&[(14.0, 0.05), (30.0, 0.10), (90.0, 0.20), (180.0, 0.30)]),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReliabilityFactorConfig {
    pub recovery_bonus: f64,
    /// The last downtime episode is looked for in this many days.
    pub recovery_window_days: u32,
    /// ... and earns the bonus when it lasted less than this.
    pub recovery_max_hours: u32,
    pub stability_bonus: f64,
    pub stability_max_stddev: f64,
    pub stability_window_days: u32,
    pub stability_min_known_days: u32,
    /// Days below the consistency threshold forgiven per 30 days.
    pub streak_protection_days: u32,
}

impl Default for ReliabilityFactorConfig {
    fn default() -> Self {
        ReliabilityFactorConfig {
            recovery_bonus: 0.03,
            recovery_window_days: 7,
            recovery_max_hours: 24,
            stability_bonus: 0.05,
            stability_max_stddev: 0.02,
            stability_window_days: 30,
            stability_min_known_days: 7,
            streak_protection_days: 1,
        }
    }
}

/// A calendar date of the configuration, `YYYY-MM-DD` (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub chrono::NaiveDate);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%d"))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| {
                let shown: String = text.chars().take(40).collect();
                serde::de::Error::custom(format!("`{shown}` is not a date of the form YYYY-MM-DD"))
            })
    }
}

/// A weekday of the configuration: `mon` … `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub chrono::Weekday);

const DAYS: [(&str, chrono::Weekday); 7] = [
    ("mon", chrono::Weekday::Mon),
    ("tue", chrono::Weekday::Tue),
    ("wed", chrono::Weekday::Wed),
    ("thu", chrono::Weekday::Thu),
    ("fri", chrono::Weekday::Fri),
    ("sat", chrono::Weekday::Sat),
    ("sun", chrono::Weekday::Sun),
];

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let name = DAYS
            .iter()
            .find(|(_, d)| *d == self.0)
            .map_or("?", |(n, _)| n);
        s.serialize_str(name)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DAYS.iter()
            .find(|(n, _)| *n == text)
            .map(|(_, d)| Day(*d))
            .ok_or_else(|| {
                let shown: String = text.chars().take(40).collect();
                serde::de::Error::custom(format!(
                    "`{shown}` must be one of mon, tue, wed, thu, fri, sat, sun"
                ))
            })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub weekday: Day,
    pub start_hour: u8,
    /// Exclusive.
    pub end_hour: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeBonusConfig {
    /// Uptime within a window needed for its bonus.
    pub threshold: f64,
    pub window_days: u32,
    /// UTC hours (0–23) that are peak hours; empty ⇒ no peak/off-peak bonus.
    pub peak_hours_utc: Vec<u8>,
    pub peak_bonus: f64,
    pub off_peak_bonus: f64,
    pub weekend_bonus: f64,
    /// Every one of the last 7 days at or above `threshold`.
    pub all_week_bonus: f64,
    /// Dates (`YYYY-MM-DD`, UTC); empty ⇒ no holiday bonus.
    pub holidays: Vec<Date>,
    pub holiday_bonus: f64,
    /// Empty ⇒ no maintenance bonus.
    pub maintenance_windows: Vec<MaintenanceWindow>,
    pub maintenance_bonus: f64,
}

impl Default for TimeBonusConfig {
    fn default() -> Self {
        TimeBonusConfig {
            threshold: 0.99,
            window_days: 7,
            peak_hours_utc: Vec::new(),
            peak_bonus: 0.10,
            off_peak_bonus: 0.05,
            weekend_bonus: 0.05,
            all_week_bonus: 0.08,
            holidays: Vec::new(),
            holiday_bonus: 0.15,
            maintenance_windows: Vec::new(),
            maintenance_bonus: 0.10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilestonesConfig {
    pub hours_streak: u32,
    pub hours_streak_threshold: f64,
    pub hours_streak_bonus: f64,
    pub days_streak: u32,
    pub days_streak_bonus: f64,
    pub perfect_month_bonus: f64,
    pub perfect_week_bonus: f64,
    /// How many weight submissions a newly earned milestone bonus is applied to.
    pub bonus_epochs: u32,
}

impl Default for MilestonesConfig {
    fn default() -> Self {
        MilestonesConfig {
            hours_streak: 1_000,
            hours_streak_threshold: 0.99,
            hours_streak_bonus: 0.50,
            days_streak: 100,
            days_streak_bonus: 0.30,
            perfect_month_bonus: 0.25,
            perfect_week_bonus: 0.15,
            bonus_epochs: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContributionConfig {
    pub early_adopter_days: u32,
    pub early_adopter_bonus: f64,
    pub supporter_window_days: u32,
    pub supporter_min_days: u32,
    pub supporter_bonus: f64,
    /// Bonus of an operator grant ("community contributor").
    pub grant_bonus: f64,
}

impl Default for ContributionConfig {
    fn default() -> Self {
        ContributionConfig {
            early_adopter_days: 180,
            early_adopter_bonus: 0.20,
            supporter_window_days: 90,
            supporter_min_days: 85,
            supporter_bonus: 0.15,
            grant_bonus: 0.10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrendConfig {
    pub window_days: u32,
    /// Least-squares slope of daily uptime, per day, that must be exceeded.
    pub min_slope: f64,
    pub min_current_uptime: f64,
    pub bonus: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig {
            window_days: 14,
            min_slope: 0.005,
            min_current_uptime: 0.9,
            bonus: 0.05,
        }
    }
}

/// Network health's success criteria: a baseline against now, for each target of the uptime
/// strategy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// The baseline: the first this many chain days of recorded history (and "now": the last
    /// as many days).
    pub baseline_days: u32,
    /// Or an explicit block range (both set).
    pub baseline_from_block: Option<u64>,
    pub baseline_to_block: Option<u64>,
    /// Mean current uptime up by this fraction of the baseline's (0.10 = +10 %).
    pub target_uptime_gain: f64,
    /// 6-month (180-day) retention up by this fraction of the baseline's.
    pub target_retention_gain: f64,
    /// At least this share of miners with an uptime multiplier above 1.
    pub target_bonus_coverage: f64,
    /// Miner-hours down per chain day cut by this fraction of the baseline's (0.5 = halved).
    pub target_downtime_cut: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            baseline_days: 14,
            baseline_from_block: None,
            baseline_to_block: None,
            target_uptime_gain: 0.10,
            target_retention_gain: 0.20,
            target_bonus_coverage: 0.80,
            target_downtime_cut: 0.50,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsConfig {
    /// Compute and submit weights (false: ingest and record only, e.g. a read-only replica).
    pub enabled: bool,
    /// Uids never adjusted (multiplier 1.0), e.g. the subnet's burn or owner uid.
    pub exempt_uids: Vec<u16>,
    pub max_total_multiplier: f64,
    /// Submit this many blocks before the next epoch.
    pub lead_blocks: u64,
    /// Everything but the extrinsic.
    pub dry_run: bool,
    /// Absent ⇒ `WeightsVersionKey` read from chain; set ⇒ must not be below the chain's.
    pub version_key: Option<u64>,
    pub drand: DrandConfig,
    pub penalty: PenaltyConfig,
}

impl Default for WeightsConfig {
    fn default() -> Self {
        WeightsConfig {
            enabled: true,
            exempt_uids: Vec::new(),
            max_total_multiplier: 3.0,
            lead_blocks: 20,
            dry_run: false,
            version_key: None,
            drand: DrandConfig::default(),
            penalty: PenaltyConfig::default(),
        }
    }
}

/// The drand beacon whose rounds time-lock commit-reveal v4 commits (default: quicknet).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrandConfig {
    /// Hex of the beacon's BLS12-381 G2 public key (96 bytes).
    pub public_key: String,
    pub genesis_time: u64,
    pub period_secs: u64,
}

pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";

impl Default for DrandConfig {
    fn default() -> Self {
        DrandConfig {
            public_key: QUICKNET_PUBLIC_KEY.into(),
            genesis_time: 1_692_803_367,
            period_secs: 3,
        }
    }
}

/// One tier of the alpha-selling penalty: a drop of held stake against its mean of at least
/// `min_drop` multiplies weights by `factor` for `hours`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltyTier {
    pub min_drop: f64,
    pub factor: f64,
    pub hours: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PenaltyConfig {
    pub enabled: bool,
    pub mean_window_days: u32,
    pub tiers: Vec<PenaltyTier>,
}

impl Default for PenaltyConfig {
    fn default() -> Self {
        PenaltyConfig {
            enabled: false,
            mean_window_days: 7,
            tiers: vec![
                PenaltyTier {
                    min_drop: 0.05,
                    factor: 0.8,
                    hours: 6,
                },
                PenaltyTier {
                    min_drop: 0.15,
                    factor: 0.6,
                    hours: 12,
                },
                PenaltyTier {
                    min_drop: 0.30,
                    factor: 0.4,
                    hours: 24,
                },
            ],
        }
    }
}

/// Where the configuration came from: kept so every later error can name the file.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: PathBuf,
    pub config: Config,
}

/// The environment variable that overrides a dotted key.
pub fn env_var_for(key: &str) -> String {
    let path: String = key
        .split('.')
        .map(|part| {
            // `tiers[2]` is not addressable from the environment; name its list instead.
            part.split('[').next().unwrap_or(part).to_ascii_uppercase()
        })
        .collect::<Vec<_>>()
        .join(ENV_SEPARATOR);
    format!("{ENV_PREFIX}{ENV_SEPARATOR}{path}")
}

fn origin_of(key: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    // Walk up the key so that an override of a parent list (or an unknown leaf) is found too.
    let mut k = key.to_string();
    loop {
        let var = env_var_for(&k);
        if env(&var).is_some() {
            return format!(" (set by environment variable {var})");
        }
        match k.rfind('.') {
            Some(i) => k.truncate(i),
            None => return String::new(),
        }
    }
}

impl Config {
    /// Reads `file`, applies the process environment's `TENURE__…` overrides, and validates.
    pub fn load(file: &Path) -> Result<Loaded, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, &vars)
    }

    /// As [`Config::load`], with the environment given explicitly (tests).
    pub fn load_with_env(file: &Path, vars: &[(String, String)]) -> Result<Loaded, ConfigError> {
        if !file.is_file() {
            return Err(ConfigError::Missing {
                file: file.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Unreadable {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(file, &text, vars)
    }

    /// Parses TOML `text` (as if read from `file`) with environment overrides `vars`.
    pub fn parse(
        file: &Path,
        text: &str,
        vars: &[(String, String)],
    ) -> Result<Loaded, ConfigError> {
        let env_lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
        let env_map: config::Map<String, String> = vars
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .cloned()
            .collect();
        let mut environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator(ENV_SEPARATOR)
            .separator(ENV_SEPARATOR)
            .try_parsing(true)
            .list_separator(",")
            .source(Some(env_map));
        for key in ENV_LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        let merged = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(environment)
            .build()
            .map_err(|e| ConfigError::Unreadable {
                file: file.to_path_buf(),
                message: e.to_string(),
            })?;
        let value: config::Value =
            merged
                .try_deserialize()
                .map_err(|e: config::ConfigError| ConfigError::Unreadable {
                    file: file.to_path_buf(),
                    message: e.to_string(),
                })?;
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let mut key = e.path().to_string();
            let mut message = e.inner().to_string();
            // The config crate appends its own (less precise) key; ours is the full path.
            if let Some(i) = message.find(" for key `") {
                message.truncate(i);
            }
            // At the top level serde_path_to_error reports `.`; the unknown field names itself.
            if key == "." {
                key = unknown_field_name(&message).unwrap_or(key);
            }
            ConfigError::Invalid {
                file: file.to_path_buf(),
                origin: origin_of(&key, &env_lookup),
                key,
                message,
            }
        })?;
        validate::check(&config).map_err(|(key, message)| ConfigError::Invalid {
            file: file.to_path_buf(),
            origin: origin_of(&key, &env_lookup),
            key,
            message,
        })?;
        Ok(Loaded {
            file: file.to_path_buf(),
            config,
        })
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// The API bearer token, from `http.api_token` or `http.api_token_file`.
    pub fn api_token(&self) -> Result<Option<Secret>, std::io::Error> {
        if !self.http.api_token.is_empty() {
            return Ok(Some(self.http.api_token.clone()));
        }
        if self.http.api_token_file.is_empty() {
            return Ok(None);
        }
        let token = std::fs::read_to_string(&self.http.api_token_file)?;
        let token = token.trim();
        Ok((!token.is_empty()).then(|| Secret::new(token)))
    }
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next().map(str::to_string)
}
