//! What `tenure vesting …` prints: plain text for operators (the API serves the same data as
//! JSON).

use std::fmt::Write;
use std::process::ExitCode;

use crate::config::{MultiplierTier, VestingConfig};
use crate::settings::Source;
use crate::vesting::multiplier::{Holding, multiplier};
use crate::vesting::store::{Record, Status};

fn tiers(t: &[MultiplierTier], unit: &str) -> String {
    if t.is_empty() {
        return "none".into();
    }
    t.iter()
        .map(|t| format!(">= {}{unit}: {}", t.min, t.multiplier))
        .collect::<Vec<_>>()
        .join(", ")
}

fn config_lines(out: &mut String, cfg: &VestingConfig) {
    // The names the configuration file uses.
    let name = |v: serde_json::Result<serde_json::Value>| {
        v.ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    };
    let _ = writeln!(
        out,
        "scope {}, lookback {} days, combine {}, max multiplier {}",
        name(serde_json::to_value(cfg.stake_scope)),
        cfg.lookback_days,
        name(serde_json::to_value(cfg.combine)),
        cfg.max_multiplier
    );
    let _ = writeln!(out, "amount tiers:   {}", tiers(&cfg.amount_tiers, ""));
    let _ = writeln!(
        out,
        "duration tiers: {}",
        tiers(&cfg.duration_tiers, " days")
    );
}

pub fn status(s: &Status) -> String {
    let mut out = String::new();
    let source = match &s.mode.source {
        Source::Config => "from the configuration file".to_string(),
        Source::Database {
            updated_by,
            updated_at,
        } => format!("set by {updated_by} at {}", updated_at.to_rfc3339()),
    };
    let _ = writeln!(
        out,
        "vesting on netuid {}: mode {} ({source}; applies from the next epoch)",
        s.netuid,
        s.mode.mode.name()
    );
    config_lines(&mut out, &s.config);
    match &s.last_epoch {
        None => {
            let _ = writeln!(out, "no epoch computed yet");
        }
        Some(e) => {
            let _ = writeln!(
                out,
                "last epoch: block {} in mode {}: {} miners, {} above 1.0, computed in {:.1} ms",
                e.epoch_block,
                e.mode.name(),
                e.miners,
                e.boosted,
                e.compute_ms
            );
            if !s.distribution.is_empty() {
                let _ = writeln!(
                    out,
                    "{:>10} {:>12} {:>14} {:>7}",
                    "multiplier", "amount tier", "duration tier", "miners"
                );
                for c in &s.distribution {
                    let _ = writeln!(
                        out,
                        "{:>10.4} {:>12} {:>14} {:>7}",
                        c.multiplier, c.amount_tier, c.duration_tier, c.miners
                    );
                }
            }
        }
    }
    if !s.recent_changes.is_empty() {
        let _ = writeln!(out, "recent mode changes:");
        for c in &s.recent_changes {
            let show = |v: &serde_json::Value| v.as_str().map_or(v.to_string(), String::from);
            let _ = writeln!(
                out,
                "  {} {} -> {} by {}{}",
                c.at.to_rfc3339(),
                c.old.as_ref().map_or("-".into(), show),
                show(&c.new),
                c.actor,
                c.reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r})"))
            );
        }
    }
    out
}

pub fn history(miner: &str, rows: &[Record]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        let _ = writeln!(out, "miner {miner}: no vesting recorded yet");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>10} {:>6} {:>5} {:>9} {:>8} {:>10} {:>8}  reason",
        "epoch", "mode", "uid", "fraction", "days", "multiplier", "applied"
    );
    for r in rows {
        let fraction = r
            .holding_fraction
            .map_or("-".to_string(), |f| format!("{f:.4}"));
        let _ = writeln!(
            out,
            "{:>10} {:>6} {:>5} {:>9} {:>8.2} {:>10.4} {:>8.4}  {}",
            r.epoch_block,
            r.mode.name(),
            r.uid,
            fraction,
            r.holding_days,
            r.multiplier,
            r.applied,
            r.reason
        );
    }
    out
}

/// The multiplier for one input, or the grid at every tier threshold.
pub fn simulate_text(
    cfg: &VestingConfig,
    fraction: Option<f64>,
    days: Option<f64>,
    table: bool,
) -> Result<String, String> {
    let mut out = String::new();
    config_lines(&mut out, cfg);
    if table {
        let rows: Vec<f64> = std::iter::once(0.0)
            .chain(cfg.amount_tiers.iter().map(|t| t.min))
            .collect();
        let cols: Vec<f64> = std::iter::once(0.0)
            .chain(cfg.duration_tiers.iter().map(|t| t.min))
            .collect();
        let _ = write!(out, "{:>18}", "fraction \\ days");
        for d in &cols {
            let _ = write!(out, " {:>8}", format!(">= {d}"));
        }
        let _ = writeln!(out);
        for f in &rows {
            let _ = write!(out, "{:>18}", format!(">= {f}"));
            for d in &cols {
                let m = multiplier(
                    cfg,
                    Holding {
                        fraction: Some(*f),
                        days: *d,
                    },
                );
                let _ = write!(out, " {:>8.4}", m.multiplier);
            }
            let _ = writeln!(out);
        }
        return Ok(out);
    }
    let (Some(f), Some(d)) = (fraction, days) else {
        return Err("give --fraction and --days, or --table".into());
    };
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("--fraction {f}: must be between 0 and 1"));
    }
    if !d.is_finite() || d < 0.0 {
        return Err(format!("--days {d}: must be a finite number >= 0"));
    }
    let o = multiplier(
        cfg,
        Holding {
            fraction: Some(f),
            days: d,
        },
    );
    let _ = writeln!(
        out,
        "fraction {f}, days {d}: amount tier {}, duration tier {}, multiplier {:.4}",
        o.amount_tier, o.duration_tier, o.multiplier
    );
    let _ = writeln!(out, "{}", o.reason);
    Ok(out)
}

pub fn simulate(
    cfg: &VestingConfig,
    fraction: Option<f64>,
    days: Option<f64>,
    table: bool,
) -> ExitCode {
    match simulate_text(cfg, fraction, days, table) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_the_spec_grid() {
        let text = simulate_text(&VestingConfig::default(), None, None, true).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("            >= 0.7"), "{text}");
        assert!(
            last.ends_with("1.2500   1.3333   1.4167   1.5000"),
            "{text}"
        );
        assert!(text.contains("1.0000   1.0833   1.1667   1.2500"), "{text}");
    }

    #[test]
    fn one_input_and_bad_inputs() {
        let cfg = VestingConfig::default();
        let text = simulate_text(&cfg, Some(0.55), Some(20.0), false).unwrap();
        assert!(text.contains("multiplier 1.2500"), "{text}");
        assert!(simulate_text(&cfg, Some(1.2), Some(1.0), false).is_err());
        assert!(simulate_text(&cfg, Some(0.5), Some(-1.0), false).is_err());
        assert!(simulate_text(&cfg, None, None, false).is_err());
    }
}
