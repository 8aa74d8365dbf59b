//! `/network`: what the rules do to the subnet — the success criteria scored against the
//! baseline, and charts of the recorded network health over time (uptime, downtime, bonus
//! coverage, retention, weight skew), with the miners per tier and at each cap at the latest
//! epoch.

use axum::extract::State;
use axum::http::StatusCode;
use sqlx::PgPool;
use sqlx::types::Json;

use super::html::{esc, page};
use super::svg::{Series, lines};
use super::{Html, PageError, WebState};
use crate::config::{UptimeConfig, VestingConfig};
use crate::network::criteria::{Criterion, State as Met};
use crate::network::store::{EpochRow, Health, health, history_ascending};
use crate::uptime::bonus::{Record, Rule};

/// The latest epoch's distribution: miners per tier and at each cap.
#[derive(Debug, Default)]
pub struct Tiers {
    /// Per tiered uptime rule: (tier, miners), "below" first.
    pub uptime: Vec<(&'static str, Vec<(String, i64)>)>,
    /// (amount tier, duration tier, miners).
    pub vesting: Vec<(f64, f64, i64)>,
    /// Miners at the uptime cap, the vesting cap, and whose product was clamped.
    pub capped: (i64, i64, i64),
}

/// Miners per tier of each tiered uptime rule, under the parameters the epoch recorded.
fn uptime_tiers(cfg: &UptimeConfig, records: &[Record]) -> Vec<(&'static str, Vec<(String, i64)>)> {
    let mut out = Vec::new();
    for (rule, tiers) in [
        (Rule::Reliability, &cfg.reliability.tiers),
        (Rule::Consistency, &cfg.consistency.tiers),
        (Rule::Longevity, &cfg.longevity.tiers),
    ] {
        let mut counts = vec![0i64; tiers.len() + 1];
        for r in records {
            let Some(m) = r.metric(rule).filter(|m| m.is_finite()) else {
                continue;
            };
            counts[tiers.iter().take_while(|t| m >= t.min).count()] += 1;
        }
        let labels = std::iter::once("below".to_string())
            .chain(tiers.iter().map(|t| format!(">= {}", t.min)));
        out.push((rule.name(), labels.zip(counts).collect()));
    }
    out
}

async fn tiers(pool: &PgPool, n: i32) -> Result<Tiers, sqlx::Error> {
    let mut t = Tiers::default();
    let epoch: Option<(i64, Json<UptimeConfig>)> = sqlx::query_as(
        "SELECT epoch_block, params FROM uptime_epochs WHERE netuid = $1 AND mode <> 'off'
          ORDER BY epoch_block DESC LIMIT 1",
    )
    .bind(n)
    .fetch_optional(pool)
    .await?;
    if let Some((block, cfg)) = epoch {
        let rows: Vec<(f64, Json<Record>)> = sqlx::query_as(
            "SELECT multiplier, bonuses FROM uptime_multipliers WHERE netuid = $1 AND epoch_block = $2",
        )
        .bind(n)
        .bind(block)
        .fetch_all(pool)
        .await?;
        let records: Vec<Record> = rows.iter().map(|r| r.1.0.clone()).collect();
        t.uptime = uptime_tiers(&cfg.0, &records);
        t.capped.0 = rows.iter().filter(|r| r.0 >= cfg.0.max_multiplier).count() as i64;
    }
    let epoch: Option<(i64, Json<VestingConfig>)> = sqlx::query_as(
        "SELECT epoch_block, params FROM vesting_epochs WHERE netuid = $1 AND mode <> 'off'
          ORDER BY epoch_block DESC LIMIT 1",
    )
    .bind(n)
    .fetch_optional(pool)
    .await?;
    if let Some((block, cfg)) = epoch {
        let cells: Vec<(f64, f64, i64, i64)> = sqlx::query_as(
            "SELECT amount_tier, duration_tier, count(*),
                    count(*) FILTER (WHERE multiplier >= $3)
               FROM vesting_multipliers WHERE netuid = $1 AND epoch_block = $2
              GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .bind(n)
        .bind(block)
        .bind(cfg.0.max_multiplier)
        .fetch_all(pool)
        .await?;
        t.vesting = cells.iter().map(|(a, d, c, _)| (*a, *d, *c)).collect();
        t.capped.1 = cells.iter().map(|c| c.3).sum();
    }
    t.capped.2 = sqlx::query_scalar(
        "SELECT count(*) FROM weight_entries WHERE clamped AND submission_id =
           (SELECT id FROM weight_submissions WHERE netuid = $1 ORDER BY epoch_index DESC, mechid LIMIT 1)",
    )
    .bind(n)
    .fetch_one(pool)
    .await?;
    Ok(t)
}

/// Miners per tier (uptime) and per cell (vesting) at the latest epoch, as tables.
fn tier_tables(t: &Tiers) -> String {
    let mut b = String::from(
        "<table id=\"tiers\"><tr><th class=\"l\">uptime rule</th><th class=\"l\">miners per tier</th></tr>",
    );
    for (rule, tiers) in &t.uptime {
        let cells: Vec<String> = tiers
            .iter()
            .map(|(label, n)| format!("{}: <b>{n}</b>", esc(label)))
            .collect();
        b += &format!(
            "<tr><td class=\"l\">{rule}</td><td class=\"l\">{}</td></tr>",
            cells.join(" · ")
        );
    }
    b += "</table><table id=\"cells\"><tr><th>amount tier</th><th>duration tier</th><th>miners</th></tr>";
    for (a, d, n) in &t.vesting {
        b += &format!("<tr><td>{a}</td><td>{d}</td><td>{n}</td></tr>");
    }
    b + "</table>"
}

fn criteria_table(c: &[Criterion]) -> String {
    let v = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.4}"));
    let mut b = String::from(
        "<table id=\"criteria\"><tr><th class=\"l\">criterion</th><th class=\"l\">target</th>\
<th>baseline</th><th>now</th><th class=\"l\">state</th></tr>",
    );
    for c in c {
        let class = match c.state {
            Met::Met => "met",
            Met::NotMet => "notmet",
            Met::NotEnoughHistory => "muted",
        };
        b += &format!(
            "<tr data-criterion=\"{}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>\
<td class=\"l {class}\" data-state=\"{}\">{}{}</td></tr>",
            c.name,
            c.name.replace('_', " "),
            esc(&c.target),
            v(c.baseline),
            v(c.now),
            c.state.label(),
            c.state.label(),
            c.why.as_ref().map_or(String::new(), |w| format!(
                " <span class=\"muted\">({})</span>",
                esc(w)
            ))
        );
    }
    b + "</table>"
}

fn charts(rows: &[EpochRow], blocks_per_day: u64, target: f64) -> String {
    let day = |r: &EpochRow| r.epoch_block as f64 / blocks_per_day.max(1) as f64;
    let series = |label, f: fn(&EpochRow) -> Option<f64>| Series {
        label,
        points: rows.iter().filter_map(|r| Some((day(r), f(r)?))).collect(),
    };
    let unit = Some((0.0, 1.0));
    let coverage_target = Series {
        label: "target",
        points: rows.iter().map(|r| (day(r), target)).collect(),
    };
    [
        lines(
            "Mean uptime",
            "chain day",
            &[
                series("current", |r| r.mean_current_uptime),
                series("historical", |r| r.mean_historical_uptime),
            ],
            unit,
        ),
        lines(
            "Miner-hours down per chain day",
            "chain day",
            &[series("down", |r| r.downtime_hours)],
            None,
        ),
        lines(
            "Bonus coverage",
            "chain day",
            &[
                series("with a bonus", |r| r.bonus_coverage),
                coverage_target,
            ],
            unit,
        ),
        lines(
            "Retention",
            "chain day",
            &[
                series("7 d", |r| r.retention_7),
                series("30 d", |r| r.retention_30),
                series("90 d", |r| r.retention_90),
                series("180 d", |r| r.retention_180),
            ],
            unit,
        ),
        lines(
            "Weight skew",
            "chain day",
            &[
                series("Gini", |r| r.gini),
                series("top 10 %", |r| r.top10_share),
                series("moved", |r| r.total_variation),
            ],
            unit,
        ),
    ]
    .map(|c| format!("<div class=\"chart\">{c}</div>"))
    .join("")
}

fn summary(h: &Health, t: &Tiers) -> String {
    let s = &h.latest;
    let pct = |x: Option<f64>| x.map_or("–".into(), |x| format!("{:.1} %", x * 100.0));
    format!(
        "<dl id=\"now\"><dt>Miners</dt><dd>{}</dd><dt>Mean current uptime</dt><dd>{}</dd>\
<dt>With an uptime bonus</dt><dd>{}</dd><dt>Miner-hours down (last chain day)</dt><dd>{}</dd>\
<dt>Gini of the weights</dt><dd>{}</dd><dt>At the cap (uptime / vesting / total clamped)</dt>\
<dd id=\"capped\">{} / {} / {}</dd></dl>",
        s.miners,
        pct(s.mean_current_uptime),
        pct(s.bonus_coverage),
        s.downtime_hours.map_or("–".into(), |h| format!("{h:.1}")),
        s.gini.map_or("–".into(), |g| format!("{g:.3}")),
        t.capped.0,
        t.capped.1,
        t.capped.2
    )
}

pub fn render(
    netuid: u16,
    h: &Health,
    rows: &[EpochRow],
    t: &Tiers,
    blocks_per_day: u64,
    target: f64,
) -> String {
    let mut b = String::from("<h2>Success criteria</h2>");
    b += &criteria_table(&h.criteria);
    b += "<h2>Now</h2>";
    b += &summary(h, t);
    b += "<h2>Miners per tier (latest epoch)</h2>";
    b += &tier_tables(t);
    b += "<h2>Over time</h2><div class=\"grid\">";
    b += &charts(rows, blocks_per_day, target);
    b += "</div>";
    page("Network health", netuid, &b)
}

pub(super) async fn handler(State(s): State<WebState>) -> Html {
    let blocks_per_day = 86_400 / s.block_time_secs.max(1);
    let loaded = async {
        let h = health(&s.pool, s.netuid, blocks_per_day, &s.network).await?;
        let rows = history_ascending(&s.pool, s.netuid).await?;
        let t = tiers(&s.pool, i32::from(s.netuid)).await?;
        Ok::<_, sqlx::Error>((h, rows, t))
    };
    match loaded.await {
        Ok((h, rows, t)) => Html(
            StatusCode::OK,
            render(
                s.netuid,
                &h,
                &rows,
                &t,
                blocks_per_day,
                s.network.target_bonus_coverage,
            ),
        ),
        Err(e) => PageError::from(e).page(s.netuid),
    }
}
