//! `tenure-devnet`: the local simulated subtensor chain, served until SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A local simulated subtensor chain over WebSocket JSON-RPC (on 127.0.0.1 by default).
#[derive(Debug, Parser)]
#[command(name = "tenure-devnet", version)]
struct Cli {
    #[command(flatten)]
    args: tenure_devnet::DevnetArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tenure_devnet::run(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
