//! `tenure network`: network health at the latest recorded epochs; `tenure miners`: every
//! miner on one line.

use super::database;
use crate::config::Loaded;
use crate::network::criteria::Criterion;
use crate::network::store::{Snapshot, health};

pub(super) async fn network_command(loaded: Loaded, json: bool) -> anyhow::Result<()> {
    let pool = database(&loaded).await?;
    let cfg = &loaded.config;
    let blocks_per_day = 86_400 / cfg.chain.block_time_secs.max(1);
    let h = health(&pool, cfg.chain.netuid, blocks_per_day, &cfg.network).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&h)?);
    } else {
        print!("{}", text(cfg.chain.netuid, &h.latest));
        print!("{}", criteria_text(&h.criteria));
    }
    Ok(())
}

pub(super) async fn miners_command(loaded: Loaded, json: bool) -> anyhow::Result<()> {
    let pool = database(&loaded).await?;
    let m = crate::miners::list(&pool, loaded.config.chain.netuid).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        print!("{}", crate::miners::text(&m));
    }
    Ok(())
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.2}%", x * 100.0))
}

/// The snapshot for the terminal.
fn text(netuid: u16, s: &Snapshot) -> String {
    let at = |e: Option<u64>| e.map_or("none recorded yet".into(), |e| e.to_string());
    let mut out = format!("network health of netuid {netuid}\n");
    out += &format!(
        "uptime (epoch block {}): {} miners, mean current {}, mean historical {}, with a bonus {}\n",
        at(s.uptime_epoch),
        s.miners,
        pct(s.mean_current_uptime),
        pct(s.mean_historical_uptime),
        pct(s.bonus_coverage)
    );
    out += &format!(
        "downtime: {} miner-hours on the last complete chain day, trend {} per day\n",
        s.downtime_hours.map_or("-".into(), |h| format!("{h:.1}")),
        s.downtime_trend.map_or("-".into(), |t| format!("{t:+.2}"))
    );
    out += &format!(
        "weights (epoch {}): Gini {}, top 10 % hold {}",
        at(s.weights_epoch),
        s.gini.map_or("-".into(), |g| format!("{g:.4}")),
        pct(s.top10_share)
    );
    match s.moved {
        Some(m) => {
            out += &format!(
                ", multipliers moved {} of the weight (largest gain {:+.2} pts, loss {:+.2} pts)\n",
                pct(Some(m.total_variation)),
                m.largest_gain * 100.0,
                m.largest_loss * 100.0
            )
        }
        None => out.push('\n'),
    }
    let retention: Vec<String> = s
        .retention
        .iter()
        .map(|r| format!("{} d {}", r.after_days, pct(r.share)))
        .collect();
    out += &format!("retention: {}\n", retention.join(", "));
    out
}

/// The success criteria, one line each.
fn criteria_text(c: &[Criterion]) -> String {
    let mut out = String::from("success criteria (baseline -> now):\n");
    for c in c {
        let v = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.4}"));
        out += &format!(
            "  {:<16} {:<18} {} -> {}  ({}){}\n",
            c.name,
            c.state.label(),
            v(c.baseline),
            v(c.now),
            c.target,
            c.why.as_ref().map_or(String::new(), |w| format!(": {w}"))
        );
    }
    out
}
