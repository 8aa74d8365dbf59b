//! A miner's page: who it is, its uptime per day and per hour, its held alpha against what it
//! earned, its multiplier and weight per epoch, its badges and grants, and the explanation of
//! its latest weight.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use sqlx::{PgPool, Row as _};

use super::html::{ago, esc, page, pct, tao, times};
use super::svg::{Series, bars, lines};
use super::{Html, PageError, WebState, error_page};
use crate::uptime::store::Periods;
use crate::vesting::store::MinerSel;

/// Everything the page shows, loaded once.
#[derive(Debug, Default)]
pub struct Miner {
    pub uid: Option<u16>,
    pub hotkey: String,
    pub coldkey: Option<String>,
    pub registered_at: Option<u64>,
    /// (UTC day since the Unix epoch, uptime fraction), oldest first.
    pub daily: Vec<(i64, f64)>,
    /// (UTC hour since the Unix epoch, uptime fraction), oldest first.
    pub hourly: Vec<(i64, f64)>,
    /// (epoch block, earned RAO in the window, still held RAO, vesting multiplier).
    pub vesting: Vec<(i64, i64, i64, f64)>,
    /// (epoch index, total multiplier, weight share).
    pub weights: Vec<(i64, f64, f64)>,
    /// (milestone, awarded block, bonus).
    pub badges: Vec<(String, i64, f64)>,
    /// (reason, bonus, by, expires in seconds).
    pub grants: Vec<(String, f64, String, i64)>,
    /// `tenure weights explain` of the latest planned epoch, as text.
    pub explain: Option<String>,
    pub standing: Standing,
}

/// `tenure weights explain` of the miner's latest planned epoch as text (`None`: none planned).
async fn explanation(
    pool: &PgPool,
    netuid: u16,
    hotkey: &str,
) -> Result<Option<String>, sqlx::Error> {
    use crate::weights::explain::{ExplainError, explain, explain_text};
    match explain(pool, netuid, &MinerSel::Hotkey(hotkey.to_string()), None).await {
        Ok(v) => Ok(Some(explain_text(&v))),
        Err(ExplainError::NotFound(_)) => Ok(None),
        Err(ExplainError::Db(e)) => Err(e),
        Err(other) => Ok(Some(format!("cannot explain: {other}"))),
    }
}

/// Where the miner stands against the network's miners (validators and exempt uids aside).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Standing {
    /// (its current uptime, share of miners at or below it) at the latest uptime epoch.
    pub uptime: Option<(f64, f64)>,
    /// (its weight share, share of miners at or below it) in the latest planned weights.
    pub weight: Option<(f64, f64)>,
}

async fn standing(pool: &PgPool, n: i32, ids: &[i64]) -> Result<Standing, sqlx::Error> {
    let rank = |rows: Vec<(i64, f64)>| {
        let mine = rows.iter().find(|r| ids.contains(&r.0)).map(|r| r.1)?;
        let all: Vec<f64> = rows.iter().map(|r| r.1).collect();
        Some((mine, crate::network::percentile(&all, mine)?))
    };
    let uptime: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT miner_id, current_uptime FROM uptime_multipliers
          WHERE netuid = $1 AND current_uptime IS NOT NULL AND bonuses->>'reason' IS NULL
            AND epoch_block = (SELECT max(epoch_block) FROM uptime_multipliers WHERE netuid = $1)",
    )
    .bind(n)
    .fetch_all(pool)
    .await?;
    let weight: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT miner_id, normalized_weight FROM weight_entries
          WHERE NOT exempt AND miner_id IS NOT NULL AND submission_id =
            (SELECT id FROM weight_submissions WHERE netuid = $1
              ORDER BY epoch_index DESC, mechid LIMIT 1)",
    )
    .bind(n)
    .fetch_all(pool)
    .await?;
    Ok(Standing {
        uptime: rank(uptime),
        weight: rank(weight),
    })
}

pub async fn load(
    pool: &PgPool,
    netuid: u16,
    sel: &MinerSel,
) -> Result<Option<Miner>, sqlx::Error> {
    let ids = sel.ids(pool, netuid).await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let n = i32::from(netuid);
    let mut m = Miner::default();
    let latest = sqlx::query(
        "SELECT uid, hotkey, registered_at_block, deregistered_at_block IS NULL
           FROM miners WHERE id = ANY($1) ORDER BY registered_at_block DESC LIMIT 1",
    )
    .bind(&ids)
    .fetch_one(pool)
    .await?;
    m.hotkey = latest.get(1);
    if latest.get::<bool, _>(3) {
        m.uid = Some(latest.get::<i32, _>(0) as u16);
    }
    m.registered_at = Some(latest.get::<i64, _>(2) as u64);
    m.coldkey = sqlx::query_scalar(
        "SELECT coldkey FROM hotkey_owners WHERE netuid = $1 AND hotkey = $2 AND to_block IS NULL",
    )
    .bind(n)
    .bind(&m.hotkey)
    .fetch_optional(pool)
    .await?;
    let series = |sql: &'static str| {
        let ids = ids.clone();
        async move {
            sqlx::query_as::<_, (i64, f64)>(sql)
                .bind(ids)
                .fetch_all(pool)
                .await
        }
    };
    m.daily = series(
        "SELECT day, sum(up)::float8 / sum(rounds) FROM uptime_daily WHERE miner_id = ANY($1)
          GROUP BY day ORDER BY day DESC LIMIT 30",
    )
    .await?;
    m.daily.reverse();
    m.hourly = series(
        "SELECT hour, sum(up)::float8 / sum(rounds) FROM uptime_hourly WHERE miner_id = ANY($1)
          GROUP BY hour ORDER BY hour DESC LIMIT 48",
    )
    .await?;
    m.hourly.reverse();
    m.vesting = sqlx::query_as(
        "SELECT epoch_block, earned_rao, remaining_rao, multiplier FROM vesting_multipliers
          WHERE miner_id = ANY($1) ORDER BY epoch_block DESC LIMIT 200",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    m.vesting.reverse();
    m.weights = sqlx::query_as(
        "SELECT s.epoch_index, e.total_multiplier,
                e.weight_u16::float8 / NULLIF((SELECT sum(x.weight_u16) FROM weight_entries x
                                                WHERE x.submission_id = s.id), 0)
           FROM weight_entries e JOIN weight_submissions s ON s.id = e.submission_id
          WHERE s.netuid = $2 AND e.miner_id = ANY($1)
          ORDER BY s.epoch_index DESC LIMIT 200",
    )
    .bind(&ids)
    .bind(n)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(e, t, w): (i64, f64, Option<f64>)| (e, t, w.unwrap_or(0.0)))
    .collect();
    m.weights.reverse();
    m.badges = sqlx::query_as(
        "SELECT milestone, awarded_block, bonus FROM achievements WHERE miner_id = ANY($1)
          ORDER BY awarded_block DESC",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    m.grants = sqlx::query_as(
        "SELECT reason, bonus, granted_by, extract(epoch FROM expires_at - now())::bigint
           FROM grants WHERE netuid = $1 AND hotkey = $2 AND revoked_at IS NULL
            AND expires_at > now() ORDER BY granted_at DESC",
    )
    .bind(n)
    .bind(&m.hotkey)
    .fetch_all(pool)
    .await?;
    m.explain = explanation(pool, netuid, &m.hotkey).await?;
    m.standing = standing(pool, n, &ids).await?;
    Ok(Some(m))
}

/// The page, pure: every value from the chain or the API escaped.
pub fn render(netuid: u16, m: &Miner) -> String {
    let title = match m.uid {
        Some(uid) => format!("Miner uid {uid}"),
        None => "Miner (deregistered)".to_string(),
    };
    let mut b = format!(
        "<dl><dt>Hotkey</dt><dd class=\"key\" id=\"hotkey\">{}</dd><dt>Coldkey</dt><dd class=\"key\">{}</dd>\
<dt>Registered at block</dt><dd>{}</dd></dl>",
        esc(&m.hotkey),
        m.coldkey.as_deref().map_or("–".into(), esc),
        m.registered_at.map_or("–".into(), |b| b.to_string())
    );
    standing_text(&mut b, &m.standing);
    badges_and_grants(&mut b, m);
    uptime_charts(&mut b, m);
    vesting_charts(&mut b, m);
    weight_charts(&mut b, m);
    b.push_str("<h2>Why this weight (latest epoch)</h2>");
    match &m.explain {
        Some(text) => b.push_str(&format!("<pre id=\"explain\">{}</pre>", esc(text))),
        None => b.push_str("<p class=\"muted\">No weights planned for this miner yet.</p>"),
    }
    page(&title, netuid, &b)
}

fn standing_text(b: &mut String, s: &Standing) {
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let line = |what: &str, v: Option<(f64, f64)>| match v {
        Some((value, rank)) => format!(
            "{what} {}: at or above {} of the network's miners.",
            pct(value),
            pct(rank)
        ),
        None => format!("{what}: not known yet."),
    };
    b.push_str(&format!(
        "<h2>Against the network</h2><p id=\"standing\">{} {} \
<a href=\"/network\">Network health</a></p>",
        line("Current uptime", s.uptime),
        line("Weight share", s.weight)
    ));
}

fn badges_and_grants(b: &mut String, m: &Miner) {
    b.push_str("<h2>Badges</h2>");
    if m.badges.is_empty() {
        b.push_str("<p class=\"muted\">None yet.</p>");
    } else {
        b.push_str("<p id=\"badges\">");
        for (milestone, block, bonus) in &m.badges {
            b.push_str(&format!(
                "<span class=\"badge\" title=\"awarded at block {block}, bonus {bonus:.2}\">{}</span> ",
                esc(&milestone.replace('_', " "))
            ));
        }
        b.push_str("</p>");
    }
    if !m.grants.is_empty() {
        b.push_str("<h2>Grants</h2><ul id=\"grants\">");
        for (reason, bonus, by, expires) in &m.grants {
            b.push_str(&format!(
                "<li>+{bonus:.2}: {} <span class=\"muted\">(by {}, expires in {})</span></li>",
                esc(reason),
                esc(by),
                ago(*expires).trim_end_matches(" ago")
            ));
        }
        b.push_str("</ul>");
    }
}

fn uptime_charts(b: &mut String, m: &Miner) {
    b.push_str("<h2>Uptime</h2><div class=\"grid\">");
    let daily: Vec<(String, f64)> = m
        .daily
        .iter()
        .map(|(d, u)| (Periods::day_start(*d).format("%Y-%m-%d").to_string(), *u))
        .collect();
    b.push_str(&bars(
        "Uptime per day (last 30 UTC days)",
        "day (UTC)",
        &daily,
        Some(1.0),
    ));
    let hourly: Vec<(String, f64)> = m
        .hourly
        .iter()
        .map(|(h, u)| {
            (
                Periods::hour_start(*h).format("%m-%d %H:00").to_string(),
                *u,
            )
        })
        .collect();
    b.push_str(&bars(
        "Uptime per hour (last 48 UTC hours)",
        "hour (UTC)",
        &hourly,
        Some(1.0),
    ));
    b.push_str("</div>");
}

fn vesting_charts(b: &mut String, m: &Miner) {
    b.push_str("<h2>Held alpha and earned emissions</h2><div class=\"grid\">");
    let alpha = |v: i64| v as f64 / 1e9;
    b.push_str(&lines(
        "Earned in the window vs still held (α)",
        "epoch block",
        &[
            Series {
                label: "earned",
                points: m.vesting.iter().map(|v| (v.0 as f64, alpha(v.1))).collect(),
            },
            Series {
                label: "held",
                points: m.vesting.iter().map(|v| (v.0 as f64, alpha(v.2))).collect(),
            },
        ],
        None,
    ));
    b.push_str(&lines(
        "Vesting multiplier",
        "epoch block",
        &[Series {
            label: "vesting",
            points: m.vesting.iter().map(|v| (v.0 as f64, v.3)).collect(),
        }],
        None,
    ));
    b.push_str("</div>");
    if let Some(last) = m.vesting.last() {
        b.push_str(&format!(
            "<p>At epoch block {}: earned {} in the window, {} still held ({}).</p>",
            last.0,
            tao(last.1, "α"),
            tao(last.2, "α"),
            pct((last.1 > 0).then(|| last.2 as f64 / last.1 as f64))
        ));
    }
}

fn weight_charts(b: &mut String, m: &Miner) {
    b.push_str("<h2>Multiplier and weight per epoch</h2><div class=\"grid\">");
    b.push_str(&lines(
        "Total multiplier",
        "epoch",
        &[Series {
            label: "multiplier",
            points: m.weights.iter().map(|w| (w.0 as f64, w.1)).collect(),
        }],
        None,
    ));
    b.push_str(&lines(
        "Weight share (%)",
        "epoch",
        &[Series {
            label: "weight",
            points: m
                .weights
                .iter()
                .map(|w| (w.0 as f64, w.2 * 100.0))
                .collect(),
        }],
        None,
    ));
    b.push_str("</div>");
    if let Some(w) = m.weights.last() {
        b.push_str(&format!(
            "<p>Epoch {}: multiplier {}, weight share {}.</p>",
            w.0,
            times(w.1),
            pct(Some(w.2))
        ));
    }
}

pub(super) async fn handler(State(s): State<WebState>, Path(miner): Path<String>) -> Html {
    let sel = MinerSel::parse(&miner);
    match load(&s.pool, s.netuid, &sel).await {
        Ok(Some(m)) => Html(StatusCode::OK, render(s.netuid, &m)),
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            s.netuid,
            &format!(
                "{} was never a miner of subnet {}.",
                sel.describe(),
                s.netuid
            ),
        ),
        Err(e) => PageError::from(e).page(s.netuid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_reasons_and_explanations_are_escaped_and_charts_drawn() {
        let m = Miner {
            uid: Some(3),
            hotkey: "5Hot\"<key>".into(),
            grants: vec![(
                "<script>alert('x')</script>".into(),
                0.1,
                "ops & co".into(),
                3600,
            )],
            explain: Some("base <1>".into()),
            daily: vec![(1, 0.5), (2, 1.0)],
            vesting: vec![
                (10, 2_000_000_000, 1_000_000_000, 1.1),
                (20, 3_000_000_000, 3_000_000_000, 1.2),
            ],
            weights: vec![(1, 1.2, 0.1), (2, 1.3, 0.2)],
            ..Miner::default()
        };
        let html = render(1, &m);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("ops &amp; co"));
        assert!(html.contains("base &lt;1&gt;"));
        assert!(html.contains("5Hot&quot;&lt;key&gt;"));
        assert_eq!(html.matches("<svg").count(), 5);
        assert_eq!(
            html.matches("no data yet").count(),
            1,
            "the hourly chart has no data"
        );
        assert!(html.contains("3.0000 α still held (100.00 %)"), "{html}");
    }
}
