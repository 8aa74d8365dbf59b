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
    /// Run a local simulated subtensor chain (WebSocket JSON-RPC on 127.0.0.1).
    Devnet(Box<crate::devnet::DevnetArgs>),
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
        // The devnet is a stand-alone chain: it needs no daemon configuration.
        Command::Devnet(args) => {
            telemetry::init(&crate::config::LogConfig::default());
            run_async(crate::devnet::run(*args))
        }
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
