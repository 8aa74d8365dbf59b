//! The command line: `tenure [--config PATH] <command>`. Each command loads and validates the
//! configuration first; secrets are never taken from arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, Loaded};
use crate::{daemon, db, telemetry};

mod chain;
mod ingest;
mod lab;
mod network;
mod uptime;
mod vesting;
mod weights;

use chain::{chain_check_file, chain_check_node};
use uptime::uptime_command;
use vesting::vesting_command;
use weights::{weights_command, weights_emit};

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
        default_value = lab::DEFAULT_CONFIG
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
    /// The incentive lab: run a synthetic subnet (groups of miners with uptime and holding
    /// behaviours) through the engines and the weight pipeline under this configuration; report
    /// each group's multipliers and weight share over time, the network figures, and the tiers
    /// that changed no miner's multiplier (dead tiers). Touches no database and no chain.
    Simulate(lab::SimulateArgs),
    /// The incentive lab on recorded history: recompute every recorded epoch and weight
    /// submission with this configuration's parameters (`--config ALT.toml`) and with the ones
    /// each epoch recorded; report both (coverage, skew, shares), the largest movers, and
    /// whether the recorded parameters reproduce what was recorded. Writes nothing, touches no
    /// chain.
    Replay(lab::ReplayArgs),
    /// Ingestion: the history's gaps, and reanchoring past blocks a pruning node no longer serves.
    Ingest {
        #[command(subcommand)]
        command: ingest::IngestCommand,
    },
    /// Every registered miner: uid, hotkey, coldkey, registration, uptime, vesting, total
    /// multiplier and weight share (the latest each was recorded).
    Miners {
        /// Print JSON (as GET /v1/miners).
        #[arg(long)]
        json: bool,
    },
    /// Network health at the latest recorded epochs: uptime, bonus coverage, skew, retention.
    Network {
        /// Print JSON (as GET /v1/network).
        #[arg(long)]
        json: bool,
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
    /// The milestones awarded (one-time bonuses), newest first.
    Achievements {
        /// Print JSON (as GET /v1/uptime/achievements).
        #[arg(long)]
        json: bool,
    },
    /// One miner's uptime and bonuses, epoch by epoch, newest first.
    History {
        /// A uid (its current registration) or a hotkey (all its registrations).
        miner: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON (as GET /v1/uptime/miners/{miner}).
        #[arg(long)]
        json: bool,
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
            } => match lab::config_or_defaults(&cli.config) {
                Ok((cfg, _)) => {
                    telemetry::init(&cfg.log);
                    crate::vesting::report::simulate(&cfg.vesting, fraction, days, table)
                }
                Err(e) => config_error(&e),
            },
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
        Command::Ingest { command } => with_config(&cli.config, |loaded| {
            run_async(ingest::ingest_command(loaded, command))
        }),
        Command::Miners { json } => with_config(&cli.config, |loaded| {
            run_async(network::miners_command(loaded, json))
        }),
        Command::Network { json } => with_config(&cli.config, |loaded| {
            run_async(network::network_command(loaded, json))
        }),
        Command::Simulate(args) => lab::simulate(&cli.config, args),
        Command::Replay(args) => {
            with_config(&cli.config, |loaded| run_async(lab::replay(loaded, args)))
        }
        Command::Migrate => with_config(&cli.config, |loaded| run_async(migrate(loaded))),
        Command::Run => with_config(&cli.config, run_daemon),
    }
}

/// `tenure run`: a node of another chain than the database's is a configuration error (78,
/// so systemd does not restart into it again and again).
fn run_daemon(loaded: Loaded) -> ExitCode {
    let Some(runtime) = async_runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(daemon::run(loaded)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            eprintln!("error: {e:#}");
            let wrong_chain = matches!(
                e.downcast_ref::<crate::chain::identity::IdentityError>(),
                Some(crate::chain::identity::IdentityError::WrongChain { .. })
            );
            if wrong_chain {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
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
