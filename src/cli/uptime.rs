//! `tenure uptime …`: status, mode changes, grants and the leaderboard.

use super::{UptimeCommand, change_mode, cli_actor, database, shown};
use crate::config::Loaded;

pub(super) async fn uptime_command(loaded: Loaded, command: UptimeCommand) -> anyhow::Result<()> {
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
        UptimeCommand::Status => status(&pool, netuid, cfg).await,
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
        UptimeCommand::Leaderboard { limit } => leaderboard(&pool, netuid, limit).await,
        UptimeCommand::Grants { all } => list_grants(&pool, netuid, all).await,
        UptimeCommand::Achievements { json } => achievements(&pool, netuid, json).await,
        UptimeCommand::History { miner, limit, json } => {
            history(&pool, netuid, &miner, limit, json).await
        }
    }
}

async fn achievements(pool: &sqlx::PgPool, netuid: u16, json: bool) -> anyhow::Result<()> {
    let badges = crate::uptime::leaderboard::achievements(pool, netuid).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&badges)?);
        return Ok(());
    }
    if badges.is_empty() {
        println!("no milestone awarded yet on netuid {netuid}");
    }
    for b in &badges {
        println!(
            "block {:>9}  uid {:>5}  {:<16} +{:.2}  ({} submission(s) left to use it)  {}",
            b.awarded_block, b.uid, b.milestone, b.bonus, b.epochs_remaining, b.hotkey
        );
    }
    Ok(())
}

async fn history(
    pool: &sqlx::PgPool,
    netuid: u16,
    miner: &str,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=10_000).contains(&limit),
        "--limit: between 1 and 10000"
    );
    let sel = crate::vesting::store::MinerSel::parse(miner);
    let Some(rows) = crate::uptime::leaderboard::history(pool, netuid, &sel, limit).await? else {
        anyhow::bail!("no miner {miner} on netuid {netuid}");
    };
    let h = crate::uptime::leaderboard::MinerHistory::new(miner, rows);
    if json {
        println!("{}", serde_json::to_string_pretty(&h)?);
        return Ok(());
    }
    println!("uptime of {miner} on netuid {netuid}, newest first");
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0));
    for p in &h.history {
        let e = &p.entry;
        let earned = match &e.detail {
            crate::uptime::bonus::Record::Evaluated(d) if d.earned.is_empty() => "no bonus".into(),
            crate::uptime::bonus::Record::Evaluated(d) => d
                .earned
                .iter()
                .map(|b| format!("{} +{:.2}", b.rule.name(), b.bonus))
                .collect::<Vec<_>>()
                .join(", "),
            crate::uptime::bonus::Record::Skipped(s) => s.reason.clone(),
        };
        println!(
            "epoch block {:>9}  uid {:>5}  current {:>8}  48 h {:>8}  ×{:.4} ({})  {earned}",
            p.epoch_block,
            e.uid,
            pct(e.current_uptime),
            pct(e.historical_uptime),
            e.multiplier,
            e.mode
        );
    }
    Ok(())
}

async fn status(
    pool: &sqlx::PgPool,
    netuid: u16,
    cfg: &crate::config::UptimeConfig,
) -> anyhow::Result<()> {
    let mode = crate::settings::mode(pool, netuid, crate::settings::UPTIME_MODE, cfg.mode).await?;
    let source = match &mode.source {
        crate::settings::Source::Config => "from the configuration file".to_string(),
        crate::settings::Source::Database {
            updated_by,
            updated_at,
        } => format!(
            "set by {} at {}",
            shown(updated_by),
            updated_at.to_rfc3339()
        ),
    };
    println!(
        "uptime on netuid {netuid}: mode {} ({source}), sources {:?}, a probe round every {} blocks",
        mode.mode.name(),
        cfg.sources,
        cfg.probe_interval_blocks
    );
    let combine = match cfg.combine {
        crate::config::UptimeCombine::Scaled => format!(
            "scaled: a miner holding every persistent family's top tier (raw {:.4}) gets {}",
            crate::uptime::bonus::top_raw(cfg),
            cfg.max_multiplier
        ),
        crate::config::UptimeCombine::Multiplicative => format!(
            "multiplicative: the raw product, capped at {} (top tiers may change nothing)",
            cfg.max_multiplier
        ),
        crate::config::UptimeCombine::Additive => {
            format!(
                "additive: 1 + the sum of bonuses, capped at {}",
                cfg.max_multiplier
            )
        }
    };
    println!("combine {combine}");
    let last = crate::uptime::store::last_rounds(pool, netuid).await?;
    if last.is_empty() {
        println!("no round recorded yet");
    }
    for r in last {
        println!(
            "last {} round: block {} at {}: {} of {} miners up",
            r.source,
            r.block,
            r.observed_at.to_rfc3339(),
            r.up,
            r.miners
        );
    }
    Ok(())
}

async fn leaderboard(pool: &sqlx::PgPool, netuid: u16, limit: usize) -> anyhow::Result<()> {
    let Some((epoch, entries)) =
        crate::uptime::leaderboard::leaderboard(pool, netuid, None).await?
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

async fn list_grants(pool: &sqlx::PgPool, netuid: u16, all: bool) -> anyhow::Result<()> {
    let rows = crate::uptime::grants::list(pool, netuid, !all).await?;
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
