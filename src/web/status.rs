//! The daemon's status for people: chain head and its age, the last weight submission, the mode
//! of each engine, who leads, and the readiness checks.

use axum::extract::State;
use axum::http::StatusCode;

use super::html::{ago, esc, page};
use super::{Html, PageError, WebState};
use crate::config::Mode;

/// What the page shows.
#[derive(Debug, Default)]
pub struct Status {
    /// (ingested block, seconds since its chain timestamp).
    pub head: Option<(i64, i64)>,
    pub finalized: i64,
    /// (epoch, status, method, block it landed in, seconds since its last change).
    pub last_submission: Option<(i64, String, String, Option<i64>, i64)>,
    /// Commit-reveal subnets: (epoch, `revealed` or `reveal_missed`, block revealed in) of the
    /// latest commit whose reveal is settled.
    pub last_reveal: Option<(i64, String, Option<i64>)>,
    /// Blocks the history skips (`tenure ingest reanchor`): (from, to, recorded at).
    pub gaps: Vec<(i64, i64, chrono::DateTime<chrono::Utc>)>,
    pub vesting_mode: String,
    pub uptime_mode: String,
    pub leader: Option<crate::health::LeaderState>,
    /// (check, ok, reason).
    pub checks: Vec<(String, bool, Option<String>)>,
}

pub fn render(netuid: u16, s: &Status) -> String {
    let mut b = String::from("<dl id=\"status\">");
    let mut row = |k: &str, v: String| b.push_str(&format!("<dt>{}</dt><dd>{v}</dd>", esc(k)));
    row(
        "Chain head (ingested)",
        match s.head {
            Some((n, age)) => format!("block {n} <span class=\"muted\">({})</span>", ago(age)),
            None => "nothing ingested yet".into(),
        },
    );
    row(
        "Finalized head",
        if s.finalized > 0 {
            format!("block {}", s.finalized)
        } else {
            "–".into()
        },
    );
    row(
        "Last weight submission",
        match &s.last_submission {
            Some((epoch, status, method, block, since)) => format!(
                "epoch {epoch}: {} ({}){} <span class=\"muted\">({})</span>",
                esc(status),
                esc(method),
                block.map_or(String::new(), |b| format!(" in block {b}")),
                ago(*since)
            ),
            None => "none yet".into(),
        },
    );
    if let Some((epoch, status, block)) = &s.last_reveal {
        row(
            "Last reveal (commit-reveal)",
            match (status.as_str(), block) {
                ("revealed", Some(b)) => {
                    format!("epoch {epoch}: revealed as committed in block {b}")
                }
                _ => format!(
                    "<strong>epoch {epoch}: {} — the chain did not reveal the commit as committed</strong>",
                    esc(status)
                ),
            },
        );
    }
    if !s.gaps.is_empty() {
        let list: Vec<String> = s
            .gaps
            .iter()
            .map(|(from, to, at)| {
                format!(
                    "blocks {from}–{to} <span class=\"muted\">(reanchored {})</span>",
                    at.format("%Y-%m-%d %H:%M UTC")
                )
            })
            .collect();
        row(
            "Gaps in the history (not ingested)",
            format!("<strong>{}</strong>", list.join(", ")),
        );
    }
    row("Vesting mode", esc(&s.vesting_mode));
    row("Uptime mode", esc(&s.uptime_mode));
    // The public view names no instance (host names, ids): only what this instance does.
    row(
        "Weights submitted by",
        match &s.leader {
            Some(l) => format!(
                "{}{}",
                match l.role.as_str() {
                    "leader" => "this instance (it holds the leader lease)",
                    "acquiring" => "this instance, once the takeover delay has passed",
                    _ => "another instance (this one is on standby)",
                },
                l.token.map_or(String::new(), |t| format!(", term {t}"))
            ),
            None => "not this instance".into(),
        },
    );
    // Reasons can name files, variables and hosts: they are on /readyz (the API's address),
    // not on the public page.
    b.push_str("</dl><h2>Readiness</h2><p class=\"muted\">The reasons of failing checks are on <code>/readyz</code> at the API's address.</p><table><thead><tr><th class=\"l\">Check</th><th class=\"l\">State</th></tr></thead><tbody>");
    for (name, ok, _) in &s.checks {
        b.push_str(&format!(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            esc(name),
            if *ok { "ok" } else { "failing" },
        ));
    }
    b.push_str("</tbody></table>");
    page("Status", netuid, &b)
}

async fn load(s: &WebState) -> Result<Status, PageError> {
    let n = i32::from(s.netuid);
    let head: Option<(i64, i64)> = sqlx::query_as(
        "SELECT c.block_number,
                (extract(epoch FROM now()) * 1000)::bigint - COALESCE(b.timestamp_ms, 0)
           FROM ingest_cursor c LEFT JOIN blocks b ON b.netuid = c.netuid AND b.number = c.block_number
          WHERE c.netuid = $1",
    )
    .bind(n)
    .fetch_optional(&s.pool)
    .await?;
    let last_submission = sqlx::query_as(
        "SELECT epoch_index, status, method, in_block_number,
                extract(epoch FROM now() - updated_at)::bigint
           FROM weight_submissions WHERE netuid = $1 ORDER BY epoch_index DESC, mechid LIMIT 1",
    )
    .bind(n)
    .fetch_optional(&s.pool)
    .await?;
    let last_reveal = sqlx::query_as(
        "SELECT epoch_index, status, revealed_block FROM weight_submissions
          WHERE netuid = $1 AND status IN ('revealed', 'reveal_missed')
          ORDER BY epoch_index DESC, mechid LIMIT 1",
    )
    .bind(n)
    .fetch_optional(&s.pool)
    .await?;
    let gaps = sqlx::query_as(
        "SELECT from_block, to_block, recorded_at FROM ingest_gaps
          WHERE netuid = $1 ORDER BY from_block",
    )
    .bind(n)
    .fetch_all(&s.pool)
    .await?;
    let mode = |key: &'static str, default: Mode| async move {
        crate::settings::mode(&s.pool, s.netuid, key, default)
            .await
            .map(|m| m.mode.name().to_string())
            .map_err(|e| PageError(e.to_string()))
    };
    Ok(Status {
        head: head.map(|(b, ms)| (b, ms / 1000)),
        finalized: s.metrics.chain.head.get(),
        last_submission,
        last_reveal,
        gaps,
        vesting_mode: mode("vesting", s.vesting_mode).await?,
        uptime_mode: mode("uptime", s.uptime_mode).await?,
        leader: s.health.leader(),
        checks: s
            .health
            .snapshot()
            .into_iter()
            .map(|(k, c)| (k, c.ok, c.reason))
            .collect(),
    })
}

pub(super) async fn handler(State(s): State<WebState>) -> Html {
    match load(&s).await {
        Ok(status) => Html(StatusCode::OK, render(s.netuid, &status)),
        Err(e) => e.page(s.netuid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_the_role_but_no_instance_names_or_reasons() {
        let s = Status {
            head: Some((120, 30)),
            finalized: 121,
            last_submission: Some((5, "finalized".into(), "set_weights".into(), Some(118), 40)),
            last_reveal: None,
            gaps: Vec::new(),
            vesting_mode: "on".into(),
            uptime_mode: "shadow".into(),
            leader: Some(crate::health::LeaderState {
                instance: "a<b>".into(),
                role: "leader".into(),
                token: Some(3),
                leader: Some("a<b>".into()),
            }),
            checks: vec![(
                "weights".into(),
                false,
                Some("cannot load /etc/tenure/hotkey ($TENURE_WALLET_PASSWORD)".into()),
            )],
        };
        let html = render(1, &s);
        assert!(html.contains("block 120"));
        assert!(html.contains("epoch 5: finalized (set_weights) in block 118"));
        assert!(html.contains("term 3"));
        assert!(html.contains("this instance (it holds the leader lease)"));
        assert!(html.contains("failing"));
        assert!(
            !html.contains("a<b>") && !html.contains("a&lt;b&gt;"),
            "no instance name"
        );
        assert!(!html.contains("/etc/tenure") && !html.contains("TENURE_WALLET_PASSWORD"));
        assert!(
            !html.contains("Last reveal"),
            "plain set_weights: no reveal row"
        );
    }

    #[test]
    fn status_says_a_missed_reveal() {
        let mut s = Status {
            last_reveal: Some((7, "reveal_missed".into(), None)),
            ..Status::default()
        };
        let html = render(1, &s);
        assert!(
            html.contains("epoch 7: reveal_missed — the chain did not reveal the commit"),
            "{html}"
        );
        s.last_reveal = Some((8, "revealed".into(), Some(190)));
        let html = render(1, &s);
        assert!(
            html.contains("epoch 8: revealed as committed in block 190"),
            "{html}"
        );
    }
}
