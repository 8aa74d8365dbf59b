//! The command line: `tenure [--config PATH] <command>`. Each command loads and validates the
//! configuration first; secrets are never taken from arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, Loaded};
use crate::{daemon, db, telemetry};

/// Exit code of a configuration error (sysexits' EX_CONFIG): systemd units use it with
/// `RestartPreventExitStatus=` so a bad config is not restarted in a loop.
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "tenure",
    version,
    about = "Validator sidecar for Bittensor subnets: vesting and uptime reward adjustments, weights pushed on chain"
)]
pub struct Cli {
    /// Configuration file (TOML). Every key can be overridden by TENURE__SECTION__KEY.
    #[arg(
        long,
        global = true,
        env = "TENURE_CONFIG",
        default_value = "config/tenure.toml"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: HTTP server, migrations, and the daemon's tasks until SIGTERM/SIGINT.
    Run,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Chain commands.
    Chain {
        #[command(subcommand)]
        command: ChainCommand,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Vesting: the mode in force, the tiers, the multipliers and their history.
    Vesting {
        #[command(subcommand)]
        command: VestingCommand,
    },
    /// Uptime: the mode in force, rounds, grants.
    Uptime {
        #[command(subcommand)]
        command: UptimeCommand,
    },
    /// Weights: what would be submitted now, why a miner got its weight, the submissions.
    Weights {
        #[command(subcommand)]
        command: WeightsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// What would be submitted if the epoch were now, per miner (from the ingested head).
    Preview {
        #[arg(long)]
        json: bool,
    },
    /// Why a miner got its weight in an epoch: base score, every bonus and multiplier with the
    /// metric that earned it, the clamp, the normalized weight and the u16 value.
    Explain {
        /// A uid or a hotkey.
        miner: String,
        /// The epoch index (default: the latest planned).
        #[arg(long)]
        epoch: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// The submissions, newest first, with their state transitions.
    History {
        #[arg(long, default_value_t = 10)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Read `{"scores": {"<uid>": score, ...}, "min_allowed_weights": n, "max_weight_limit": u16}`
    /// on stdin and print `{"dests": [...], "weights": [...]}`: exactly the vectors tenure would
    /// submit (the SDK's conversion). Exit 65 on bad input, with the reason.
    Emit,
}

#[derive(Debug, Subcommand)]
pub enum UptimeCommand {
    /// The mode in force, the sources and the latest round of each.
    Status,
    /// Apply uptime multipliers to weights from the next epoch.
    On(ModeChange),
    /// Stop computing uptime bonuses from the next epoch (weights get 1.0).
    Off(ModeChange),
    /// Compute, record and explain uptime bonuses without changing weights.
    Shadow(ModeChange),
    /// Grant a miner the community-contributor bonus until an expiry.
    Grant {
        hotkey: String,
        /// Why (shown in the miner's explanation).
        #[arg(long)]
        reason: String,
        /// Days until it expires.
        #[arg(long)]
        days: u32,
        /// Defaults to uptime.contribution.grant_bonus.
        #[arg(long)]
        bonus: Option<f64>,
    },
    /// Revoke a grant by its id (see `tenure uptime grants`).
    Revoke { id: i64 },
    /// Active grants (`--all`: revoked and expired ones too).
    Grants {
        #[arg(long)]
        all: bool,
    },
    /// Miners ranked by current uptime, then longevity, at the last epoch.
    Leaderboard {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum VestingCommand {
    /// The mode in force, the tiers, and how many miners sit in each tier at the last epoch.
    Status {
        /// Print JSON (what GET /v1/vesting returns).
        #[arg(long)]
        json: bool,
    },
    /// Apply vesting multipliers to weights from the next epoch.
    On(ModeChange),
    /// Stop computing vesting from the next epoch (weights get 1.0).
    Off(ModeChange),
    /// Compute, record and explain vesting from the next epoch without changing weights.
    Shadow(ModeChange),
    /// The multiplier the configured tiers give a holding fraction and age, or the whole grid.
    Simulate {
        /// Fraction of the window's emissions still held (0..=1).
        #[arg(long, required_unless_present = "table", requires = "days")]
        fraction: Option<f64>,
        /// Age in days of the oldest emission still held.
        #[arg(long, required_unless_present = "table", requires = "fraction")]
        days: Option<f64>,
        /// Print the multiplier at every (amount tier, duration tier) instead.
        #[arg(long, conflicts_with_all = ["fraction", "days"])]
        table: bool,
    },
    /// One miner's vesting, epoch by epoch (newest first).
    History {
        /// A uid (its current registration) or a hotkey (all its registrations).
        miner: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Debug, clap::Args)]
pub struct ModeChange {
    /// Why (kept in the audit log).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Report, item by item, whether the runtime has every storage entry, call, event and
    /// transaction extension tenure uses, with the expected types. Exit 1 on any
    /// incompatibility, 2 when the runtime cannot be read. Without --url or --metadata, the
    /// configured endpoints are used.
    Check {
        /// A node to ask (ws:// or wss://).
        #[arg(long, conflicts_with = "metadata")]
        url: Option<String>,
        /// A SCALE `RuntimeMetadataPrefixed` file (e.g. from `state_getMetadata`).
        #[arg(long)]
        metadata: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values (secrets redacted).
    Check,
}

/// Parses the arguments, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Chain {
            command: ChainCommand::Check { url, metadata },
        } => {
            telemetry::init(&crate::config::LogConfig::default());
            match (url, metadata) {
                (_, Some(file)) => chain_check_file(&file),
                (Some(url), None) => chain_check_node(vec![url]),
                (None, None) => with_config(&cli.config, |loaded| {
                    chain_check_node(loaded.config.chain.endpoints.clone())
                }),
            }
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => with_config(&cli.config, |loaded| {
            print!(
                "# effective configuration of {}\n{}",
                loaded.file.display(),
                loaded.config.to_redacted_toml()
            );
            ExitCode::SUCCESS
        }),
        Command::Vesting { command } => match command {
            VestingCommand::Simulate {
                fraction,
                days,
                table,
            } => with_config(&cli.config, |loaded| {
                crate::vesting::report::simulate(&loaded.config.vesting, fraction, days, table)
            }),
            command => with_config(&cli.config, |loaded| {
                run_async(vesting_command(loaded, command))
            }),
        },
        Command::Uptime { command } => with_config(&cli.config, |loaded| {
            run_async(uptime_command(loaded, command))
        }),
        Command::Weights {
            command: WeightsCommand::Emit,
        } => weights_emit(),
        Command::Weights { command } => with_config(&cli.config, |loaded| {
            run_async(weights_command(loaded, command))
        }),
        Command::Migrate => with_config(&cli.config, |loaded| run_async(migrate(loaded))),
        Command::Run => with_config(&cli.config, |loaded| run_async(daemon::run(loaded))),
    }
}

/// Loads and validates the configuration, sets up logging, then runs `f`.
fn with_config(path: &std::path::Path, f: impl FnOnce(Loaded) -> ExitCode) -> ExitCode {
    match Config::load(path) {
        Ok(loaded) => {
            telemetry::init(&loaded.config.log);
            f(loaded)
        }
        Err(e) => config_error(&e),
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

fn async_runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .inspect_err(|e| eprintln!("error: cannot start the async runtime: {e}"))
        .ok()
}

fn run_async<F: Future<Output = anyhow::Result<()>>>(fut: F) -> ExitCode {
    let Some(runtime) = async_runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Who changes a setting from the command line, for the audit log.
fn cli_actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// A pool on the configured database with the schema up to date.
async fn database(loaded: &Loaded) -> anyhow::Result<sqlx::PgPool> {
    let cfg = &loaded.config.database;
    let pool = db::lazy_pool(cfg)?;
    db::wait_until_reachable(&pool, cfg, &tokio_util::sync::CancellationToken::new()).await?;
    db::migrate(&pool).await?;
    Ok(pool)
}

async fn vesting_command(loaded: Loaded, command: VestingCommand) -> anyhow::Result<()> {
    use crate::config::Mode;
    use crate::vesting::{report, store};
    let pool = database(&loaded).await?;
    let (netuid, cfg) = (loaded.config.chain.netuid, &loaded.config.vesting);
    let change = |mode: Mode, c: ModeChange| (mode, c.reason);
    let (mode, reason) = match command {
        VestingCommand::Status { json } => {
            let status = store::status(&pool, netuid, cfg).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", report::status(&status));
            }
            return Ok(());
        }
        VestingCommand::History { miner, limit } => {
            let sel = store::MinerSel::parse(&miner);
            match store::history(&pool, netuid, &sel, None, limit.clamp(1, 10_000)).await? {
                Some(rows) => print!("{}", report::history(&miner, &rows)),
                None => anyhow::bail!("no miner {miner} on netuid {netuid}"),
            }
            return Ok(());
        }
        VestingCommand::Simulate { .. } => return Ok(()),
        VestingCommand::On(c) => change(Mode::On, c),
        VestingCommand::Off(c) => change(Mode::Off, c),
        VestingCommand::Shadow(c) => change(Mode::Shadow, c),
    };
    change_mode(&pool, netuid, "vesting", cfg.mode, mode, reason).await
}

async fn change_mode(
    pool: &sqlx::PgPool,
    netuid: u16,
    family: &str,
    default: crate::config::Mode,
    mode: crate::config::Mode,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let key = format!("{family}.mode");
    let done = crate::settings::set_mode(
        pool,
        netuid,
        &key,
        default,
        mode,
        &cli_actor(),
        reason.as_deref(),
    )
    .await?;
    let name = crate::config::Mode::name;
    if done.changed {
        println!(
            "{family} mode {} -> {} on netuid {netuid}; applies from the next epoch",
            name(done.old),
            name(done.new)
        );
    } else {
        println!(
            "{family} mode already {} on netuid {netuid}; nothing changed",
            name(done.new)
        );
    }
    Ok(())
}

async fn uptime_command(loaded: Loaded, command: UptimeCommand) -> anyhow::Result<()> {
    use crate::config::Mode;
    use crate::uptime::grants;
    let pool = database(&loaded).await?;
    let (netuid, cfg) = (loaded.config.chain.netuid, &loaded.config.uptime);
    match command {
        UptimeCommand::On(c) => {
            change_mode(&pool, netuid, "uptime", cfg.mode, Mode::On, c.reason).await
        }
        UptimeCommand::Off(c) => {
            change_mode(&pool, netuid, "uptime", cfg.mode, Mode::Off, c.reason).await
        }
        UptimeCommand::Shadow(c) => {
            change_mode(&pool, netuid, "uptime", cfg.mode, Mode::Shadow, c.reason).await
        }
        UptimeCommand::Status => {
            let mode = crate::settings::mode(&pool, netuid, crate::settings::UPTIME_MODE, cfg.mode)
                .await?;
            println!(
                "uptime on netuid {netuid}: mode {} ({}), sources {:?}, a probe round every {} blocks",
                mode.mode.name(),
                match &mode.source {
                    crate::settings::Source::Config => "from the configuration file".to_string(),
                    crate::settings::Source::Database {
                        updated_by,
                        updated_at,
                    } => format!(
                        "set by {} at {}",
                        shown(updated_by),
                        updated_at.to_rfc3339()
                    ),
                },
                cfg.sources,
                cfg.probe_interval_blocks
            );
            let last: Vec<(String, i64, i32, i32, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                "SELECT DISTINCT ON (source) source, block, miners, up, observed_at FROM uptime_rounds
                  WHERE netuid = $1 ORDER BY source, block DESC",
            )
            .bind(i32::from(netuid))
            .fetch_all(&pool)
            .await?;
            if last.is_empty() {
                println!("no round recorded yet");
            }
            for (source, block, miners, up, at) in last {
                println!(
                    "last {source} round: block {block} at {}: {up} of {miners} miners up",
                    at.to_rfc3339()
                );
            }
            Ok(())
        }
        UptimeCommand::Grant {
            hotkey,
            reason,
            days,
            bonus,
        } => {
            anyhow::ensure!(days > 0, "--days must be at least 1");
            let expires = chrono::Utc::now() + chrono::Duration::days(i64::from(days));
            let bonus = bonus.unwrap_or(cfg.contribution.grant_bonus);
            let id = grants::grant(
                &pool,
                netuid,
                &hotkey,
                bonus,
                &reason,
                &cli_actor(),
                expires,
            )
            .await?;
            println!(
                "grant {id}: {hotkey} +{bonus} until {} ({reason})",
                expires.to_rfc3339()
            );
            Ok(())
        }
        UptimeCommand::Revoke { id } => {
            anyhow::ensure!(
                grants::revoke(&pool, netuid, id, &cli_actor()).await?,
                "no active grant {id} on netuid {netuid}"
            );
            println!("grant {id} revoked");
            Ok(())
        }
        UptimeCommand::Leaderboard { limit } => {
            let Some((epoch, entries)) =
                crate::uptime::leaderboard::leaderboard(&pool, netuid, None).await?
            else {
                println!("no uptime recorded yet");
                return Ok(());
            };
            println!("uptime leaderboard of netuid {netuid} at epoch block {epoch}");
            println!(
                "{:>4} {:>5} {:>9} {:>9} {:>9} {:>10}  hotkey",
                "rank", "uid", "current", "48 h", "longevity", "multiplier"
            );
            let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0));
            for e in entries.iter().take(limit) {
                println!(
                    "{:>4} {:>5} {:>9} {:>9} {:>8}d {:>10.4}  {}",
                    e.rank,
                    e.uid,
                    pct(e.current_uptime),
                    pct(e.historical_uptime),
                    e.longevity_days,
                    e.multiplier,
                    e.hotkey
                );
            }
            Ok(())
        }
        UptimeCommand::Grants { all } => {
            let rows = grants::list(&pool, netuid, !all).await?;
            if rows.is_empty() {
                println!("no {}grant", if all { "" } else { "active " });
            }
            let now = chrono::Utc::now();
            for g in rows {
                println!(
                    "{:>5} {} +{} until {} by {} ({}){}",
                    g.id,
                    g.hotkey,
                    g.bonus,
                    g.expires_at.to_rfc3339(),
                    shown(&g.granted_by),
                    shown(&g.reason),
                    match (&g.revoked_by, g.active(now)) {
                        (Some(by), _) => format!(" revoked by {}", shown(by)),
                        (None, false) => " expired".to_string(),
                        (None, true) => String::new(),
                    }
                );
            }
            Ok(())
        }
    }
}

async fn migrate(loaded: Loaded) -> anyhow::Result<()> {
    let cfg = &loaded.config.database;
    let pool = db::lazy_pool(cfg)?;
    let cancel = tokio_util::sync::CancellationToken::new();
    db::wait_until_reachable(&pool, cfg, &cancel).await?;
    let applied = db::migrate(&pool).await?;
    let all = db::applied_versions(&pool).await?;
    if applied.is_empty() {
        println!(
            "schema up to date ({} migrations applied earlier)",
            all.len()
        );
    } else {
        println!(
            "applied migrations {applied:?}; schema now at {}",
            all.last().copied().unwrap_or(0)
        );
    }
    Ok(())
}

fn chain_check_report(source: &str, findings: &[crate::chain::check::Finding]) -> ExitCode {
    println!("# tenure chain check: {source}");
    match crate::chain::check::report(findings, &mut std::io::stdout()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn chain_check_file(file: &std::path::Path) -> ExitCode {
    let metadata = std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| subxt::Metadata::decode_from(&bytes[..]).map_err(|e| e.to_string()));
    match metadata {
        Ok(md) => chain_check_report(
            &file.display().to_string(),
            &crate::chain::check::check(&md),
        ),
        Err(e) => {
            eprintln!("error: {}: not runtime metadata: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

fn chain_check_node(endpoints: Vec<String>) -> ExitCode {
    let Some(runtime) = async_runtime() else {
        return ExitCode::from(2);
    };
    let source = endpoints.join(", ");
    let cfg = crate::config::ChainConfig {
        endpoints,
        ..Default::default()
    };
    let client =
        crate::chain::client::ChainClient::new(crate::chain::client::Settings::from_config(&cfg));
    match runtime.block_on(client.check_runtime()) {
        Ok((block, findings)) => {
            chain_check_report(&format!("{source} at block {block}"), &findings)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Bad input data (sysexits EX_DATAERR).
const EXIT_DATA: u8 = 65;

fn weights_emit() -> ExitCode {
    use std::io::Read;
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read stdin: {e}");
        return ExitCode::from(EXIT_DATA);
    }
    match crate::weights::emit::emit(&input) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("error: {reason}");
            ExitCode::from(EXIT_DATA)
        }
    }
}

async fn weights_command(loaded: Loaded, command: WeightsCommand) -> anyhow::Result<()> {
    use crate::weights::{explain, run};
    let cfg = &loaded.config;
    let netuid = cfg.chain.netuid;
    let pool = database(&loaded).await?;
    match command {
        WeightsCommand::Emit => {
            anyhow::bail!("`weights emit` reads stdin and needs no configuration")
        }
        WeightsCommand::History { limit, json } => {
            let v = explain::history(&pool, netuid, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for s in &v {
                    println!("{}", explain::history_line(s));
                }
            }
        }
        WeightsCommand::Explain { miner, epoch, json } => {
            let sel = crate::vesting::store::MinerSel::parse(&miner);
            let v = explain::explain(&pool, netuid, &sel, epoch).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", explain::explain_text(&v));
            }
        }
        WeightsCommand::Preview { json } => {
            let head = run::cursor(&pool, netuid)
                .await?
                .ok_or_else(|| anyhow::anyhow!("nothing ingested yet: run the daemon first"))?;
            // The subnet's limits come from the chain; without one the SDK's no-limit defaults
            // are used and the preview says so.
            let client = crate::chain::client::ChainClient::new(
                crate::chain::client::Settings::from_config(&cfg.chain),
            );
            let (min_allowed, limit, note) = match client.hyperparams(head, netuid).await {
                Ok(h) => (h.min_allowed_weights, h.max_weights_limit, None),
                Err(e) => (
                    0,
                    u16::MAX,
                    Some(format!(
                        "chain not reachable ({e}): MinAllowedWeights 0 and MaxWeightsLimit 65535 assumed"
                    )),
                ),
            };
            let mut settings = run::Settings::from_config(cfg);
            // A preview reads the penalties in force; it does not detect (store) new ones.
            settings.inputs.penalty =
                crate::weights::inputs::PenaltySettings::from_config(cfg, false);
            let params = crate::weights::pipeline::Params {
                max_total_multiplier: cfg.weights.max_total_multiplier,
                min_allowed_weights: min_allowed,
                max_weights_limit: limit,
            };
            let (preview, _) =
                explain::preview(&pool, &settings.inputs, head.number, params).await?;
            if json {
                let mut v = serde_json::to_value(&preview)?;
                v["note"] = serde_json::json!(note);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                if let Some(n) = note {
                    println!("note: {n}");
                }
                print!("{}", explain::preview_text(&preview));
            }
        }
    }
    Ok(())
}

/// `s` for a terminal: control characters (escape sequences, carriage returns, NUL) written as
/// escapes, so text that came through the API cannot move the cursor or recolour the screen.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
