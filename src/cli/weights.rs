//! `tenure weights …`: emit (the SDK conversion as a filter), history, explain, preview.

use std::process::ExitCode;

use super::{WeightsCommand, database};
use crate::config::Loaded;

/// Bad input data (sysexits EX_DATAERR).
const EXIT_DATA: u8 = 65;

pub(super) fn weights_emit() -> ExitCode {
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

pub(super) async fn weights_command(loaded: Loaded, command: WeightsCommand) -> anyhow::Result<()> {
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
