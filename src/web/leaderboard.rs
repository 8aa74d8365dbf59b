//! The leaderboard: every miner of the last uptime epoch in the API's rank order (current
//! uptime, then longevity), with its badges, vesting tier, total multiplier and weight share;
//! sortable by any column through links (`?sort=…&dir=…`).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use sqlx::{PgPool, Row as _};

use super::html::{esc, miner_link, page, pct, times};
use super::{Html, PageError, WebState, error_page};

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub rank: usize,
    pub uid: u16,
    pub hotkey: String,
    pub current: Option<f64>,
    pub historical: Option<f64>,
    pub consistency_days: f64,
    pub longevity_days: f64,
    pub badges: Vec<String>,
    /// (amount tier, duration tier, vesting multiplier) at the last vesting epoch.
    pub vesting: Option<(f64, f64, f64)>,
    /// The total multiplier and the weight share in the last planned submission.
    pub multiplier: Option<f64>,
    pub share: Option<f64>,
}

/// Columns a visitor may sort by: (query key, header, numeric key of a line).
const COLUMNS: &[(&str, &str)] = &[
    ("rank", "Rank"),
    ("uid", "UID"),
    ("uptime", "Uptime"),
    ("historical", "Historical"),
    ("consistency", "Consistency"),
    ("longevity", "Longevity"),
    ("vesting", "Vesting"),
    ("multiplier", "Multiplier"),
    ("weight", "Weight"),
];

fn key(l: &Line, col: &str) -> f64 {
    match col {
        "uid" => f64::from(l.uid),
        "uptime" => l.current.unwrap_or(-1.0),
        "historical" => l.historical.unwrap_or(-1.0),
        "consistency" => l.consistency_days,
        "longevity" => l.longevity_days,
        "vesting" => l.vesting.map_or(0.0, |v| v.2),
        "multiplier" => l.multiplier.unwrap_or(0.0),
        "weight" => l.share.unwrap_or(0.0),
        _ => l.rank as f64,
    }
}

#[derive(Debug, Deserialize)]
pub struct SortQuery {
    sort: Option<String>,
    dir: Option<String>,
}

/// Sorts `lines` by `col` (ties by rank); `Err` names what is wrong with the request.
pub fn sort(lines: &mut [Line], col: &str, dir: &str) -> Result<(), String> {
    if !COLUMNS.iter().any(|(k, _)| *k == col) {
        let known: Vec<&str> = COLUMNS.iter().map(|(k, _)| *k).collect();
        return Err(format!(
            "sort must be one of {}, not `{col}`",
            known.join(", ")
        ));
    }
    let desc = match dir {
        "asc" => false,
        "desc" => true,
        other => return Err(format!("dir must be asc or desc, not `{other}`")),
    };
    lines.sort_by(|a, b| {
        let o = key(a, col).total_cmp(&key(b, col));
        (if desc { o.reverse() } else { o }).then(a.rank.cmp(&b.rank))
    });
    Ok(())
}

/// The leaderboard's lines at the last uptime epoch: `None` before the first.
pub async fn lines(pool: &PgPool, netuid: u16) -> Result<Option<(u64, Vec<Line>)>, sqlx::Error> {
    let Some((epoch, entries)) =
        crate::uptime::leaderboard::leaderboard(pool, netuid, None).await?
    else {
        return Ok(None);
    };
    let n = i32::from(netuid);
    let mut badges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in crate::uptime::leaderboard::achievements(pool, netuid).await? {
        badges.entry(b.hotkey).or_default().push(b.milestone);
    }
    let vesting: BTreeMap<i32, (f64, f64, f64)> = sqlx::query(
        "SELECT uid, amount_tier, duration_tier, multiplier FROM vesting_multipliers
          WHERE netuid = $1
            AND epoch_block = (SELECT max(epoch_block) FROM vesting_multipliers WHERE netuid = $1)",
    )
    .bind(n)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
    .collect();
    let weights: BTreeMap<String, (f64, f64)> = sqlx::query(
        "SELECT e.hotkey, e.total_multiplier,
                e.weight_u16::float8 / NULLIF(sum(e.weight_u16) OVER (), 0)
           FROM weight_entries e
          WHERE e.submission_id = (SELECT id FROM weight_submissions s WHERE netuid = $1
                                      AND EXISTS (SELECT 1 FROM weight_entries x
                                                   WHERE x.submission_id = s.id)
                                    ORDER BY epoch_index DESC, mechid LIMIT 1)",
    )
    .bind(n)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        (
            r.get::<String, _>(0),
            (r.get(1), r.get::<Option<f64>, _>(2).unwrap_or(0.0)),
        )
    })
    .collect();
    let lines = entries
        .into_iter()
        .map(|e| {
            let w = weights.get(&e.hotkey);
            Line {
                rank: e.rank,
                uid: e.uid,
                current: e.current_uptime,
                historical: e.historical_uptime,
                consistency_days: e.consistency_days,
                longevity_days: e.longevity_days,
                badges: badges.get(&e.hotkey).cloned().unwrap_or_default(),
                vesting: vesting.get(&i32::from(e.uid)).copied(),
                multiplier: w.map(|w| w.0),
                share: w.map(|w| w.1),
                hotkey: e.hotkey,
            }
        })
        .collect();
    Ok(Some((epoch, lines)))
}

/// The table, pure: every value escaped or formatted.
pub fn render(netuid: u16, epoch: u64, lines: &[Line], col: &str, dir: &str) -> String {
    let mut body = format!(
        "<p>Miners at uptime epoch block {epoch}, ranked by current uptime, then longevity. \
Sorted by <b>{}</b> ({}). Badges are one-time milestones. Weight share and multiplier come \
from the last weights planned.</p><table id=\"leaderboard\"><thead><tr>",
        esc(col),
        esc(dir)
    );
    for (k, label) in COLUMNS {
        let next = if *k == col && dir == "desc" {
            "asc"
        } else {
            "desc"
        };
        let arrow = match (*k == col, dir) {
            (true, "desc") => " ▼",
            (true, _) => " ▲",
            _ => "",
        };
        body.push_str(&format!(
            "<th><a href=\"/?sort={k}&amp;dir={next}\">{label}{arrow}</a></th>"
        ));
        if *k == "uid" {
            body.push_str("<th class=\"l\">Hotkey</th>");
        }
    }
    body.push_str("<th class=\"l\">Badges</th></tr></thead><tbody>");
    for l in lines {
        let vesting = match l.vesting {
            Some((a, d, m)) => format!(
                "<span title=\"amount tier {} · duration tier {}\">{}</span>",
                times(a),
                times(d),
                times(m)
            ),
            None => "–".into(),
        };
        let badges: String = l
            .badges
            .iter()
            .map(|b| format!("<span class=\"badge\">{}</span>", esc(&b.replace('_', " "))))
            .collect();
        body.push_str(&format!(
            "<tr data-uid=\"{uid}\" data-hotkey=\"{hk}\"><td>{rank}</td><td>{uid}</td>\
<td class=\"l\">{link}</td><td>{cur}</td><td>{hist}</td><td>{cons:.0} d</td><td>{lon:.0} d</td>\
<td>{vesting}</td><td>{mult}</td><td>{share}</td><td class=\"l\">{badges}</td></tr>",
            uid = l.uid,
            hk = esc(&l.hotkey),
            rank = l.rank,
            link = miner_link(&l.hotkey),
            cur = pct(l.current),
            hist = pct(l.historical),
            cons = l.consistency_days,
            lon = l.longevity_days,
            mult = l.multiplier.map_or("–".into(), times),
            share = pct(l.share),
        ));
    }
    body.push_str("</tbody></table>");
    page("Uptime leaderboard", netuid, &body)
}

pub(super) async fn handler(State(s): State<WebState>, Query(q): Query<SortQuery>) -> Html {
    let col = q.sort.as_deref().unwrap_or("rank");
    let dir = q
        .dir
        .as_deref()
        .unwrap_or(if col == "rank" || col == "uid" {
            "asc"
        } else {
            "desc"
        });
    let loaded = match lines(&s.pool, s.netuid).await {
        Ok(l) => l,
        Err(e) => return PageError::from(e).page(s.netuid),
    };
    let Some((epoch, mut lines)) = loaded else {
        return Html(
            StatusCode::OK,
            super::html::page(
                "Uptime leaderboard",
                s.netuid,
                "<p>No uptime epoch has been recorded yet: the leaderboard appears after the first epoch.</p>",
            ),
        );
    };
    if let Err(reason) = sort(&mut lines, col, dir) {
        return error_page(StatusCode::BAD_REQUEST, s.netuid, &reason);
    }
    Html(StatusCode::OK, render(s.netuid, epoch, &lines, col, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(rank: usize, uid: u16, hotkey: &str, current: f64) -> Line {
        Line {
            rank,
            uid,
            hotkey: hotkey.into(),
            current: Some(current),
            historical: None,
            consistency_days: 0.0,
            longevity_days: 0.0,
            badges: vec![],
            vesting: None,
            multiplier: None,
            share: None,
        }
    }

    #[test]
    fn sorting_by_a_column_keeps_rank_as_the_tie_break_and_refuses_unknown_ones() {
        let mut l = vec![
            line(1, 9, "a", 0.9),
            line(2, 3, "b", 0.9),
            line(3, 5, "c", 0.5),
        ];
        sort(&mut l, "uid", "asc").unwrap();
        assert_eq!(l.iter().map(|l| l.uid).collect::<Vec<_>>(), [3, 5, 9]);
        sort(&mut l, "uptime", "desc").unwrap();
        assert_eq!(l.iter().map(|l| l.rank).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(
            sort(&mut l, "<x>", "asc")
                .unwrap_err()
                .contains("sort must be one of")
        );
        assert!(
            sort(&mut l, "uid", "up")
                .unwrap_err()
                .contains("asc or desc")
        );
    }

    #[test]
    fn hotkeys_and_badges_are_escaped() {
        let mut l = line(1, 0, "<img src=x onerror=alert(1)>", 1.0);
        l.badges = vec!["<blink>".into()];
        let html = render(1, 10, &[l], "rank", "asc");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<blink>"), "{html}");
        assert!(html.contains("&lt;blink&gt;"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
