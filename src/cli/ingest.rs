//! `tenure ingest …`: the history's gaps, and `reanchor` (skip blocks a pruning node no longer
//! serves).

use std::time::Duration;

use super::{cli_actor, database};
use crate::chain::client::{ChainClient, Settings};
use crate::config::Loaded;
use crate::ingest::reanchor;

#[derive(Debug, clap::Subcommand)]
pub enum IngestCommand {
    /// Continue ingestion from the finalized head when the node no longer has the state of the
    /// blocks after the cursor (a pruning node, no archive endpoint). The blocks between are
    /// recorded as a gap (who, when, why): uptime there is unknown, and the stake held at the
    /// head is read whole (changes become manual tranches). Refused while the next block can
    /// still be read. The daemon may keep running: it continues from the new cursor.
    Reanchor {
        /// Why (kept with the gap).
        #[arg(long)]
        reason: String,
    },
    /// The gaps of the recorded history.
    Gaps {
        /// Print JSON (as GET /v1/ingest/gaps).
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn ingest_command(loaded: Loaded, command: IngestCommand) -> anyhow::Result<()> {
    let pool = database(&loaded).await?;
    let cfg = &loaded.config;
    match command {
        IngestCommand::Gaps { json } => {
            let gaps = reanchor::gaps(&pool, cfg.chain.netuid).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&gaps)?);
            } else if gaps.is_empty() {
                println!(
                    "no gaps: the history of netuid {} is whole",
                    cfg.chain.netuid
                );
            }
            for g in &gaps {
                println!(
                    "blocks {}..={} skipped (history continues at {}), {} by {}: {}",
                    g.from_block,
                    g.to_block,
                    g.anchor_block,
                    g.recorded_at.to_rfc3339(),
                    g.actor,
                    g.reason
                );
            }
        }
        IngestCommand::Reanchor { reason } => {
            anyhow::ensure!(!reason.trim().is_empty(), "--reason must say why");
            let client = ChainClient::new(Settings::from_config(&cfg.chain));
            // Never across chains: the node must serve the database's chain.
            let bound = Duration::from_secs(cfg.chain.rpc_timeout_secs * 3);
            let cancel = tokio_util::sync::CancellationToken::new();
            tokio::time::timeout(
                bound,
                crate::chain::identity::check(&pool, &client, &cancel),
            )
            .await
            .map_err(|_| {
                anyhow::anyhow!("the node did not answer within {} s", bound.as_secs())
            })??;
            let s = crate::ingest::Settings::from_config(cfg);
            let done = reanchor::reanchor(&client, &pool, &s, &cli_actor(), &reason).await?;
            println!(
                "reanchored netuid {} at block {}: blocks {}..={} are recorded as a gap ({} rows written)",
                cfg.chain.netuid, done.anchor, done.gap.from, done.gap.to, done.rows
            );
        }
    }
    Ok(())
}
