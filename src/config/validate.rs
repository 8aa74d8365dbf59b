//! Value checks that serde's types cannot express: ranges, strictly increasing tiers, URLs and
//! cross-key rules. Each failure names the dotted key it is about.

use std::collections::BTreeSet;

use super::{BonusTier, Config, MultiplierTier, PenaltyTier};

type Failure = (String, String);

fn fail<T>(key: impl Into<String>, message: impl Into<String>) -> Result<T, Failure> {
    Err((key.into(), message.into()))
}

fn positive(key: &str, v: u64) -> Result<(), Failure> {
    if v == 0 {
        return fail(key, "must be greater than 0");
    }
    Ok(())
}

fn finite_in(key: &str, v: f64, lo: f64, hi: f64) -> Result<(), Failure> {
    if !v.is_finite() || v < lo || v > hi {
        return fail(key, format!("must be a number in [{lo}, {hi}], got {v}"));
    }
    Ok(())
}

fn fraction(key: &str, v: f64) -> Result<(), Failure> {
    finite_in(key, v, 0.0, 1.0)
}

fn bonus(key: &str, v: f64) -> Result<(), Failure> {
    finite_in(key, v, 0.0, 10.0)
}

fn multiplier_cap(key: &str, v: f64) -> Result<(), Failure> {
    finite_in(key, v, 1.0, 100.0)
}

/// Tiers must be non-empty, strictly increasing in `min`, within `[lo, hi]`, and never lower a
/// value reached at a smaller threshold (a reward must not shrink as the metric grows).
fn check_thresholds(
    key: &str,
    points: &[(f64, f64)],
    lo: f64,
    hi: f64,
    value_name: &str,
    value_lo: f64,
) -> Result<(), Failure> {
    if points.is_empty() {
        return fail(key, "needs at least one tier");
    }
    for (i, &(min, value)) in points.iter().enumerate() {
        let k = format!("{key}[{i}]");
        finite_in(&format!("{k}.min"), min, lo, hi)?;
        finite_in(&format!("{k}.{value_name}"), value, value_lo, 100.0)?;
        if i > 0 {
            let (prev_min, prev_value) = points[i - 1];
            if min <= prev_min {
                return fail(
                    format!("{k}.min"),
                    format!(
                        "tiers must be strictly increasing: {min} follows {prev_min} (tier {})",
                        i - 1
                    ),
                );
            }
            if value < prev_value {
                return fail(
                    format!("{k}.{value_name}"),
                    format!(
                        "a higher tier must not pay less: {value} is below {prev_value} of tier {}",
                        i - 1
                    ),
                );
            }
        }
    }
    Ok(())
}

fn multiplier_tiers(key: &str, t: &[MultiplierTier], lo: f64, hi: f64) -> Result<(), Failure> {
    let points: Vec<_> = t.iter().map(|t| (t.min, t.multiplier)).collect();
    check_thresholds(key, &points, lo, hi, "multiplier", 1.0)
}

fn bonus_tiers(key: &str, t: &[BonusTier], lo: f64, hi: f64) -> Result<(), Failure> {
    let points: Vec<_> = t.iter().map(|t| (t.min, t.bonus)).collect();
    check_thresholds(key, &points, lo, hi, "bonus", 0.0)
}

fn penalty_tiers(key: &str, t: &[PenaltyTier]) -> Result<(), Failure> {
    for (i, tier) in t.iter().enumerate() {
        let k = format!("{key}[{i}]");
        finite_in(&format!("{k}.min_drop"), tier.min_drop, 0.0, 1.0)?;
        finite_in(&format!("{k}.factor"), tier.factor, 0.0, 1.0)?;
        positive(&format!("{k}.hours"), u64::from(tier.hours))?;
        if i > 0 {
            let prev = t[i - 1];
            if tier.min_drop <= prev.min_drop {
                return fail(
                    format!("{k}.min_drop"),
                    format!(
                        "tiers must be strictly increasing: {} follows {}",
                        tier.min_drop, prev.min_drop
                    ),
                );
            }
            if tier.factor > prev.factor {
                return fail(
                    format!("{k}.factor"),
                    "a larger drop must not be penalized less than a smaller one",
                );
            }
        }
    }
    Ok(())
}

fn endpoint(key: &str, s: &str) -> Result<(), Failure> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "ws" | "wss") && u.host().is_some() => Ok(()),
        Ok(u) => fail(
            key,
            format!(
                "`{s}` must be a ws:// or wss:// URL with a host (scheme is `{}`)",
                u.scheme()
            ),
        ),
        Err(e) => fail(key, format!("`{s}` is not a URL: {e}")),
    }
}

pub(super) fn check(c: &Config) -> Result<(), Failure> {
    chain(c)?;
    wallet(c)?;
    database(c)?;
    http(c)?;
    log(c)?;
    daemon(c)?;
    vesting(c)?;
    uptime(c)?;
    uptime_reliability_factor(&c.uptime)?;
    uptime_time(&c.uptime)?;
    uptime_milestones(&c.uptime)?;
    uptime_contribution(&c.uptime)?;
    uptime_trend(&c.uptime)?;
    weights(c)?;
    network(c)?;
    Ok(())
}

/// Checks the chain: endpoints, netuid, timeouts.
fn chain(c: &Config) -> Result<(), Failure> {
    if c.chain.endpoints.is_empty() {
        return fail("chain.endpoints", "needs at least one ws:// or wss:// URL");
    }
    for (i, e) in c.chain.archive_endpoints.iter().enumerate() {
        endpoint(&format!("chain.archive_endpoints[{i}]"), e)?;
    }
    for (i, e) in c.chain.endpoints.iter().enumerate() {
        endpoint(&format!("chain.endpoints[{i}]"), e)?;
    }
    if c.chain.netuid == 0 {
        return fail(
            "chain.netuid",
            "0 is the root network, where miners are not scored; use the subnet's netuid",
        );
    }
    if c.chain.netuid >= 4096 {
        return fail(
            "chain.netuid",
            "must be below 4096 (GLOBAL_MAX_SUBNET_COUNT)",
        );
    }
    if c.chain.mechid >= 16 {
        return fail("chain.mechid", "must be below 16 (mechanisms per subnet)");
    }
    positive("chain.block_time_secs", c.chain.block_time_secs)?;
    positive("chain.rpc_timeout_secs", c.chain.rpc_timeout_secs)?;
    positive("chain.stall_timeout_secs", c.chain.stall_timeout_secs)?;
    positive(
        "chain.reconnect_initial_delay_ms",
        c.chain.reconnect_initial_delay_ms,
    )?;
    positive(
        "chain.reconnect_max_delay_secs",
        c.chain.reconnect_max_delay_secs,
    )?;
    Ok(())
}

/// Checks the wallet: names inside wallet.path.
fn wallet(c: &Config) -> Result<(), Failure> {
    for (key, v) in [
        ("wallet.path", &c.wallet.path),
        ("wallet.name", &c.wallet.name),
        ("wallet.hotkey", &c.wallet.hotkey),
    ] {
        if v.trim().is_empty() {
            return fail(key, "must not be empty");
        }
    }
    if c.wallet.name.contains('/') || c.wallet.hotkey.contains('/') {
        return fail(
            "wallet.hotkey",
            "wallet and hotkey are names inside wallet.path, not paths",
        );
    }
    Ok(())
}

/// Checks the database URL, pool and timeouts.
fn database(c: &Config) -> Result<(), Failure> {
    let db = c.database.url.expose();
    match url::Url::parse(db) {
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {}
        Ok(_) => {
            return fail("database.url", "must be a postgres:// or postgresql:// URL");
        }
        Err(e) => return fail("database.url", format!("is not a URL: {e}")),
    }
    if !(1..=1000).contains(&c.database.max_connections) {
        return fail("database.max_connections", "must be in [1, 1000]");
    }
    positive(
        "database.connect_timeout_secs",
        c.database.connect_timeout_secs,
    )?;
    positive(
        "database.statement_timeout_secs",
        c.database.statement_timeout_secs,
    )?;
    Ok(())
}

/// Checks the HTTP listener: token, exposure, connection and body limits.
fn http(c: &Config) -> Result<(), Failure> {
    if !c.http.api_token.is_empty() && !c.http.api_token_file.is_empty() {
        return fail(
            "http.api_token_file",
            "set either http.api_token or http.api_token_file, not both",
        );
    }
    if !c.http.api_token.is_empty() && c.http.api_token.expose().len() < 16 {
        return fail("http.api_token", "must be at least 16 characters long");
    }
    // A token file that cannot be read is a configuration error (exit 78), not a crash later.
    if !c.http.api_token_file.is_empty()
        && let Err(e) = c.http.token()
    {
        return fail("http.api_token_file", e);
    }
    if c.http.enabled
        && !c.http.listen.ip().is_loopback()
        && c.http.api_token.is_empty()
        && c.http.api_token_file.is_empty()
        && !c.http.allow_public_without_token
    {
        return fail(
            "http.listen",
            format!(
                "{} is reachable from other hosts but no http.api_token or http.api_token_file is set; set a token, bind to 127.0.0.1, or set http.allow_public_without_token = true",
                c.http.listen
            ),
        );
    }
    if !(1..=65_536).contains(&c.http.max_connections) {
        return fail("http.max_connections", "must be in [1, 65536]");
    }
    if !(1..=c.http.max_connections).contains(&c.http.max_connections_per_client) {
        return fail(
            "http.max_connections_per_client",
            "must be in [1, http.max_connections]",
        );
    }
    positive(
        "http.header_read_timeout_secs",
        c.http.header_read_timeout_secs,
    )?;
    positive("http.request_timeout_secs", c.http.request_timeout_secs)?;
    if !(1024..=(256 << 20)).contains(&c.http.max_body_bytes) {
        return fail("http.max_body_bytes", "must be in [1024, 268435456]");
    }
    Ok(())
}

/// Checks the log filter.
fn log(c: &Config) -> Result<(), Failure> {
    if tracing_subscriber::EnvFilter::try_new(&c.log.level).is_err() {
        return fail(
            "log.level",
            format!(
                "`{}` is not a tracing filter (e.g. `info`, `tenure=debug`)",
                c.log.level
            ),
        );
    }
    Ok(())
}

/// Checks the daemon, HA lease, ingestion and score freshness.
fn daemon(c: &Config) -> Result<(), Failure> {
    positive(
        "daemon.shutdown_deadline_secs",
        c.daemon.shutdown_deadline_secs,
    )?;
    positive(
        "daemon.progress_timeout_secs",
        c.daemon.progress_timeout_secs,
    )?;
    if !(100..=60_000).contains(&c.ha.lease_check_ms) {
        return fail("ha.lease_check_ms", "must be in [100, 60000]");
    }
    if c.ha.takeover_delay_ms <= 2 * c.ha.lease_check_ms {
        return fail(
            "ha.takeover_delay_ms",
            format!(
                "must exceed twice ha.lease_check_ms ({} ms): a leader that lost its lease needs up to two checks to notice, and the next one must not start before",
                2 * c.ha.lease_check_ms
            ),
        );
    }
    if c.ha.instance.len() > 200 || c.ha.instance.chars().any(char::is_control) {
        return fail("ha.instance", "at most 200 printable characters");
    }
    if !(1..=256).contains(&c.ingest.pipeline_depth) {
        return fail("ingest.pipeline_depth", "must be in [1, 256]");
    }
    positive("scores.max_age_blocks", c.scores.max_age_blocks)?;
    Ok(())
}

/// Checks the vesting tiers and combine parameters.
fn vesting(c: &Config) -> Result<(), Failure> {
    let v = &c.vesting;
    multiplier_tiers("vesting.amount_tiers", &v.amount_tiers, 0.0, 1.0)?;
    multiplier_tiers("vesting.duration_tiers", &v.duration_tiers, 0.0, 3650.0)?;
    multiplier_cap("vesting.max_multiplier", v.max_multiplier)?;
    if let Some(top) = v.duration_tiers.last()
        && f64::from(v.lookback_days) < top.min
    {
        return fail(
            "vesting.lookback_days",
            format!(
                "{} is below the top duration tier ({} days): that tier could never be reached",
                v.lookback_days, top.min
            ),
        );
    }
    finite_in(
        "vesting.continuous_fraction_target",
        v.continuous_fraction_target,
        f64::MIN_POSITIVE,
        1.0,
    )?;
    finite_in(
        "vesting.continuous_days_target",
        v.continuous_days_target,
        f64::MIN_POSITIVE,
        3650.0,
    )?;
    Ok(())
}

/// Checks the uptime sources, windows and the first rule families.
fn uptime(c: &Config) -> Result<(), Failure> {
    let u = &c.uptime;
    if u.sources.is_empty() {
        return fail("uptime.sources", "needs `probe`, `api` or both");
    }
    if u.sources.iter().collect::<BTreeSet<_>>().len() != u.sources.len() {
        return fail("uptime.sources", "lists a source twice");
    }
    positive("uptime.probe_interval_blocks", u.probe_interval_blocks)?;
    positive("uptime.raw_retention_days", u64::from(u.raw_retention_days))?;
    if u.rollup_retention_days < 400 {
        return fail(
            "uptime.rollup_retention_days",
            "must be at least 400: yearly milestones and longevity read that far back",
        );
    }
    positive("uptime.current_window_blocks", u.current_window_blocks)?;
    if u.historical_window_blocks < u.current_window_blocks {
        return fail(
            "uptime.historical_window_blocks",
            "must not be shorter than uptime.current_window_blocks",
        );
    }
    multiplier_cap("uptime.max_multiplier", u.max_multiplier)?;
    positive("uptime.probe.timeout_ms", u.probe.timeout_ms)?;
    if !(1..=65_536).contains(&u.probe.concurrency) {
        return fail("uptime.probe.concurrency", "must be in [1, 65536]");
    }
    if !u.probe.http_path.is_empty() && !u.probe.http_path.starts_with('/') {
        return fail(
            "uptime.probe.http_path",
            "must start with `/` (or be empty)",
        );
    }
    if !(1..=1_000_000).contains(&u.api.max_batch) {
        return fail("uptime.api.max_batch", "must be in [1, 1000000]");
    }
    bonus_tiers("uptime.reliability.tiers", &u.reliability.tiers, 0.0, 1.0)?;
    fraction("uptime.consistency.threshold", u.consistency.threshold)?;
    bonus_tiers(
        "uptime.consistency.tiers",
        &u.consistency.tiers,
        1.0,
        3650.0,
    )?;
    fraction("uptime.longevity.floor", u.longevity.floor)?;
    bonus_tiers("uptime.longevity.tiers", &u.longevity.tiers, 1.0, 3650.0)?;
    Ok(())
}

/// Checks uptime.reliability_factor: recovery, stability, streak protection.
fn uptime_reliability_factor(u: &super::UptimeConfig) -> Result<(), Failure> {
    let rf = &u.reliability_factor;
    bonus(
        "uptime.reliability_factor.recovery_bonus",
        rf.recovery_bonus,
    )?;
    positive(
        "uptime.reliability_factor.recovery_window_days",
        u64::from(rf.recovery_window_days),
    )?;
    positive(
        "uptime.reliability_factor.recovery_max_hours",
        u64::from(rf.recovery_max_hours),
    )?;
    bonus(
        "uptime.reliability_factor.stability_bonus",
        rf.stability_bonus,
    )?;
    fraction(
        "uptime.reliability_factor.stability_max_stddev",
        rf.stability_max_stddev,
    )?;
    if rf.stability_min_known_days == 0 || rf.stability_min_known_days > rf.stability_window_days {
        return fail(
            "uptime.reliability_factor.stability_min_known_days",
            "must be in [1, stability_window_days]",
        );
    }
    if rf.streak_protection_days > 30 {
        return fail(
            "uptime.reliability_factor.streak_protection_days",
            "is per 30 days: must be at most 30",
        );
    }
    Ok(())
}

/// Checks uptime.time: threshold, peak hours, holidays, maintenance windows.
fn uptime_time(u: &super::UptimeConfig) -> Result<(), Failure> {
    let t = &u.time;
    fraction("uptime.time.threshold", t.threshold)?;
    positive("uptime.time.window_days", u64::from(t.window_days))?;
    let mut hours = BTreeSet::new();
    for (i, h) in t.peak_hours_utc.iter().enumerate() {
        if *h > 23 || !hours.insert(*h) {
            return fail(
                format!("uptime.time.peak_hours_utc[{i}]"),
                format!("{h} must be a UTC hour 0–23, listed once"),
            );
        }
    }
    if hours.len() == 24 {
        return fail(
            "uptime.time.peak_hours_utc",
            "lists every hour: there would be no off-peak hours",
        );
    }
    for (key, b) in [
        ("uptime.time.peak_bonus", t.peak_bonus),
        ("uptime.time.off_peak_bonus", t.off_peak_bonus),
        ("uptime.time.weekend_bonus", t.weekend_bonus),
        ("uptime.time.all_week_bonus", t.all_week_bonus),
        ("uptime.time.holiday_bonus", t.holiday_bonus),
        ("uptime.time.maintenance_bonus", t.maintenance_bonus),
    ] {
        bonus(key, b)?;
    }
    for (i, w) in t.maintenance_windows.iter().enumerate() {
        let k = format!("uptime.time.maintenance_windows[{i}]");
        if w.start_hour > 23 || w.end_hour > 24 || w.end_hour <= w.start_hour {
            return fail(
                format!("{k}.end_hour"),
                "needs 0 <= start_hour < end_hour <= 24 (UTC hours, end exclusive)",
            );
        }
    }
    Ok(())
}

/// Checks uptime.milestones.
fn uptime_milestones(u: &super::UptimeConfig) -> Result<(), Failure> {
    let m = &u.milestones;
    positive("uptime.milestones.hours_streak", u64::from(m.hours_streak))?;
    fraction(
        "uptime.milestones.hours_streak_threshold",
        m.hours_streak_threshold,
    )?;
    positive("uptime.milestones.days_streak", u64::from(m.days_streak))?;
    for (key, b) in [
        ("uptime.milestones.hours_streak_bonus", m.hours_streak_bonus),
        ("uptime.milestones.days_streak_bonus", m.days_streak_bonus),
        (
            "uptime.milestones.perfect_month_bonus",
            m.perfect_month_bonus,
        ),
        ("uptime.milestones.perfect_week_bonus", m.perfect_week_bonus),
    ] {
        bonus(key, b)?;
    }
    positive("uptime.milestones.bonus_epochs", u64::from(m.bonus_epochs))?;
    Ok(())
}

/// Checks uptime.contribution.
fn uptime_contribution(u: &super::UptimeConfig) -> Result<(), Failure> {
    let n = &u.contribution;
    bonus(
        "uptime.contribution.early_adopter_bonus",
        n.early_adopter_bonus,
    )?;
    bonus("uptime.contribution.supporter_bonus", n.supporter_bonus)?;
    bonus("uptime.contribution.grant_bonus", n.grant_bonus)?;
    if n.supporter_min_days == 0 || n.supporter_min_days > n.supporter_window_days {
        return fail(
            "uptime.contribution.supporter_min_days",
            "must be in [1, supporter_window_days]",
        );
    }
    Ok(())
}

/// Checks uptime.trend.
fn uptime_trend(u: &super::UptimeConfig) -> Result<(), Failure> {
    let tr = &u.trend;
    if tr.window_days < 2 {
        return fail(
            "uptime.trend.window_days",
            "needs at least 2 days for a slope",
        );
    }
    finite_in("uptime.trend.min_slope", tr.min_slope, -1.0, 1.0)?;
    fraction("uptime.trend.min_current_uptime", tr.min_current_uptime)?;
    bonus("uptime.trend.bonus", tr.bonus)?;
    Ok(())
}

/// Checks the weights: clamp, exempt uids, drand beacon, penalty.
fn weights(c: &Config) -> Result<(), Failure> {
    let w = &c.weights;
    multiplier_cap("weights.max_total_multiplier", w.max_total_multiplier)?;
    let mut seen = BTreeSet::new();
    for (i, uid) in w.exempt_uids.iter().enumerate() {
        if !seen.insert(*uid) {
            return fail(
                format!("weights.exempt_uids[{i}]"),
                format!("uid {uid} is listed twice"),
            );
        }
    }
    let pk = &w.drand.public_key;
    if pk.len() != 192 || !pk.bytes().all(|b| b.is_ascii_hexdigit()) {
        return fail(
            "weights.drand.public_key",
            "must be the 96-byte BLS12-381 G2 public key as 192 hex digits",
        );
    }
    if let Err(e) = crate::drand::Beacon::new(pk, w.drand.genesis_time, w.drand.period_secs) {
        return fail("weights.drand.public_key", e.to_string());
    }
    positive("weights.drand.period_secs", w.drand.period_secs)?;
    positive(
        "weights.penalty.mean_window_days",
        u64::from(w.penalty.mean_window_days),
    )?;
    penalty_tiers("weights.penalty.tiers", &w.penalty.tiers)?;
    Ok(())
}

fn network(c: &Config) -> Result<(), Failure> {
    let n = &c.network;
    positive("network.baseline_days", u64::from(n.baseline_days))?;
    match (n.baseline_from_block, n.baseline_to_block) {
        (Some(from), Some(to)) if from >= to => {
            return fail(
                "network.baseline_to_block",
                "must be after baseline_from_block",
            );
        }
        (Some(_), None) => return fail("network.baseline_to_block", "set both ends, or neither"),
        (None, Some(_)) => {
            return fail("network.baseline_from_block", "set both ends, or neither");
        }
        _ => {}
    }
    finite_in(
        "network.target_uptime_gain",
        n.target_uptime_gain,
        0.0,
        10.0,
    )?;
    finite_in(
        "network.target_retention_gain",
        n.target_retention_gain,
        0.0,
        10.0,
    )?;
    fraction("network.target_bonus_coverage", n.target_bonus_coverage)?;
    fraction("network.target_downtime_cut", n.target_downtime_cut)?;
    Ok(())
}
