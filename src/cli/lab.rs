//! `tenure simulate`: the incentive lab's synthetic subnet, from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, ConfigError};
use crate::lab::population::Population;
use crate::lab::simulate::Rules;

/// The path the global `--config` has when nobody set it.
pub(super) const DEFAULT_CONFIG: &str = "config/tenure.toml";

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The population file (TOML): groups of miners with uptime and holding behaviours
    /// (examples/populations/).
    #[arg(long)]
    population: PathBuf,
    /// Chain days to run.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
    /// Write the charts (SVG) into this directory.
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// The rules to simulate: the configuration's, or the built-in defaults when no configuration
/// was asked for and none sits at the default path.
fn rules(config: &Path) -> Result<(Rules, String), ConfigError> {
    let (cfg, source) = config_or_defaults(config)?;
    Ok((Rules::of(&cfg), source))
}

/// The configuration at `path`, or the built-in defaults when no configuration was asked for
/// (`--config` and `TENURE_CONFIG` absent) and none sits at the default path: commands that
/// only need the rules (`simulate`, `vesting simulate`) run on a fresh clone. Says which.
pub(super) fn config_or_defaults(config: &Path) -> Result<(Config, String), ConfigError> {
    let defaulted =
        config == Path::new(DEFAULT_CONFIG) && std::env::var_os("TENURE_CONFIG").is_none();
    match Config::load(config) {
        Ok(loaded) => Ok((loaded.config, format!("rules of {}", config.display()))),
        Err(ConfigError::Missing { .. }) if defaulted => Ok((
            Config::default(),
            "built-in default rules (no config/tenure.toml)".into(),
        )),
        Err(e) => Err(e),
    }
}

pub(super) fn simulate(config: &Path, args: SimulateArgs) -> ExitCode {
    let (rules, source) = match rules(config) {
        Ok(r) => r,
        Err(e) => return super::config_error(&e),
    };
    let pop = match Population::load(&args.population) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let started = std::time::Instant::now();
    let report = match crate::lab::simulate(&pop, &rules, args.days) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the weight pipeline refused an epoch: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = &args.svg {
        match report.write_svg(dir) {
            Ok(files) => {
                for f in files {
                    eprintln!("wrote {}", f.display());
                }
            }
            Err(e) => {
                eprintln!("error: cannot write charts into {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.text());
        println!("({source}; {:.1} s)", started.elapsed().as_secs_f64());
    }
    ExitCode::SUCCESS
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// First epoch block to report (default: the first recorded).
    #[arg(long)]
    from: Option<u64>,
    /// Last epoch block to report (default: the last recorded).
    #[arg(long)]
    to: Option<u64>,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
}

/// `tenure --config ALT.toml replay`: the recorded history under ALT's parameters. Reads the
/// database ALT names; writes nothing, touches no chain.
pub(super) async fn replay(loaded: crate::config::Loaded, args: ReplayArgs) -> anyhow::Result<()> {
    let pool = super::database(&loaded).await?;
    let cfg = &loaded.config;
    let rules = Rules::of(cfg);
    let periods = crate::uptime::store::Periods::new(cfg.chain.block_time_secs);
    let to = args.to.unwrap_or(u64::MAX >> 1);
    let extra = [(rules.uptime.clone(), rules.vesting.clone())];
    let recorded = crate::lab::recorded::load(&pool, cfg.chain.netuid, periods, to, &extra).await?;
    let Some(first) = recorded.epochs.first().map(|e| e.block) else {
        anyhow::bail!(
            "no epoch recorded for netuid {} up to block {to}",
            cfg.chain.netuid
        );
    };
    if recorded.scope != rules.vesting.stake_scope {
        anyhow::bail!(
            "vesting.stake_scope differs from the recorded one: only the recorded scope's books exist"
        );
    }
    let first_plan = recorded
        .submissions
        .first()
        .map_or(first, |s| s.planned_block);
    let from = args.from.unwrap_or(first.min(first_plan));
    let report = crate::lab::replay::replay(&recorded, &rules, from, to)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            crate::lab::replay::text(&report, &loaded.file.display().to_string())
        );
    }
    if report.reproduced.differing > 0 {
        eprintln!(
            "warning: {} recorded value(s) were not reproduced with the recorded parameters (see above)",
            report.reproduced.differing
        );
    }
    Ok(())
}
