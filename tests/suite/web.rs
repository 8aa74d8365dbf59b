//! The public web pages end to end, in a real browser: the devnet (with real TCP axons), a real
//! PostgreSQL and the daemon binary run until the chain halts after a few chain hours' worth of
//! epochs; then headless Chromium (Debian's `chromium`, installed by .ci/run) loads the
//! leaderboard and a miner page. The ranking equals the API's, a miner's badge shows, the
//! charts render (SVG in the DOM, a screenshot of a plausible size), and a grant reason full of
//! HTML is shown as text, never as markup.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use sqlx::PgPool;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;

const TOKEN: &str = "web-test-token-0123456789";
const HALT: u64 = 800;
const EVIL: &str = "<script>alert(\"pwned\")</script> & 'friends' <b>bold</b>";

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "no Chromium: install Debian's chromium package (apt-get install chromium); .ci/run does"
    );
}

/// Runs headless Chromium on `url` with `args` (off the test's runtime: the daemon is a child
/// process, but the devnet serves from this runtime).
async fn browser(url: String, args: Vec<String>) -> (bool, String, String) {
    let bin = chromium();
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(&args)
            .arg(&url)
            .output()
    })
    .await
    .unwrap()
    .expect("run chromium");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn dom(url: String) -> String {
    let (ok, out, err) = browser(url.clone(), vec!["--dump-dom".into()]).await;
    assert!(
        ok && out.contains("</html>"),
        "chromium --dump-dom {url}: {err}"
    );
    out
}

async fn screenshot(url: String, file: &Path, height: u32) -> u64 {
    let (ok, _, err) = browser(
        url.clone(),
        vec![
            format!("--screenshot={}", file.display()),
            format!("--window-size=1280,{height}"),
        ],
    )
    .await;
    assert!(ok, "chromium --screenshot {url}: {err}");
    std::fs::metadata(file).map(|m| m.len()).unwrap_or(0)
}

/// `attr="…"` values in document order.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let pat = format!("{attr}=\"");
    html.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &html[i + pat.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

#[sqlx::test]
async fn leaderboard_and_miner_pages_in_headless_chromium(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 30,
        tempo: 20,
        miners: 8,
        validators: 1,
        rate_limit: 5,
        axons: true,
        halt_at: HALT,
        wallet_path: Some(dir.path().to_path_buf()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let port = common::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = common::daemon::config(&devnet.url(), &common::url_of(&pool), 1);
    common::daemon::devnet_wallet(&mut c, dir.path());
    common::daemon::http(&mut c, port, Some(TOKEN));
    c.log.format = tenure::config::LogFormat::Human;
    c.scores.source = tenure::config::ScoresSource::Uniform;
    c.weights.lead_blocks = 5;
    c.ha.lease_check_ms = 200;
    c.ha.takeover_delay_ms = 500;
    c.uptime.sources = vec![tenure::config::UptimeSource::Probe];
    c.uptime.probe_interval_blocks = 10;
    c.uptime.probe.timeout_ms = 500;
    c.uptime.milestones.hours_streak = 1;
    c.uptime.milestones.hours_streak_threshold = 0.9;
    let (_config, mut daemon) = common::daemon::start(dir.path(), "tenure", &c);

    // Until the chain halts and everything up to its last finalized block is recorded.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let cursor: Option<i64> = sqlx::query_scalar("SELECT block_number FROM ingest_cursor")
            .fetch_optional(&pool)
            .await
            .unwrap();
        let badges: i64 = sqlx::query_scalar("SELECT count(*) FROM achievements")
            .fetch_one(&pool)
            .await
            .unwrap();
        if cursor.is_some_and(|c| c as u64 + 5 >= HALT) && badges > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cursor {cursor:?}, {badges} achievements"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The API's ranking, achievements, and a grant whose reason is full of HTML.
    let (status, body) = common::http_get(addr, "/v1/uptime/leaderboard").await;
    assert_eq!(status, 200, "{body}");
    let board: Json = serde_json::from_str(&body).unwrap();
    let api_order: Vec<String> = board["miners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["hotkey"].as_str().unwrap().to_string())
        .collect();
    assert!(api_order.len() >= 8, "{board}");
    let (_, body) = common::http_get(addr, "/v1/uptime/achievements").await;
    let achievements: Vec<Json> = serde_json::from_str(&body).unwrap();
    let decorated = achievements[0]["hotkey"].as_str().unwrap().to_string();
    let milestone = achievements[0]["milestone"]
        .as_str()
        .unwrap()
        .replace('_', " ");
    let granted = api_order[0].clone();
    let (status, body) = common::http_request(
        addr,
        "POST",
        "/v1/uptime/grants",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        Some(
            &json!({"hotkey": granted, "reason": EVIL, "days": 3, "actor": "ops <&>"}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The leaderboard, as the browser builds it.
    let page = dom(format!("http://{addr}/")).await;
    let rows = attr_values(&page, "data-hotkey");
    assert_eq!(rows, api_order, "the page ranks as the API does");
    let row_start = page.find(&format!("data-hotkey=\"{decorated}\"")).unwrap();
    let row = &page[row_start..row_start + page[row_start..].find("</tr>").unwrap()];
    assert!(
        row.contains("class=\"badge\"") && row.contains(&milestone),
        "no {milestone} badge in the row of {decorated}: {row}"
    );
    // Sorting is a link away; a bad sort key is refused with the reason.
    let sorted = dom(format!("http://{addr}/?sort=uid&dir=desc")).await;
    let uids: Vec<u64> = attr_values(&sorted, "data-uid")
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
    assert!(uids.windows(2).all(|w| w[0] > w[1]), "{uids:?}");
    let (status, body) = common::http_get(addr, "/?sort=%3Cx%3E").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("sort must be one of") && body.contains("&lt;x&gt;"),
        "{body}"
    );
    let file = dir.path().join("leaderboard.png");
    let size = screenshot(format!("http://{addr}/"), &file, 560).await;
    assert!(size > 20_000, "leaderboard screenshot of {size} bytes");

    // The miner page: charts, badges, the grant's reason as text.
    let page = dom(format!("http://{addr}/miners/{granted}")).await;
    assert!(page.matches("<svg").count() >= 4, "charts missing: {page}");
    assert!(
        page.contains("<polyline") || page.contains("<rect"),
        "{page}"
    );
    assert!(
        !page.contains("<script"),
        "markup from a grant reason was rendered"
    );
    assert!(!page.contains("<b>bold</b>"));
    assert!(
        page.contains(
            "&lt;script&gt;alert(\"pwned\")&lt;/script&gt; &amp; 'friends' &lt;b&gt;bold&lt;/b&gt;"
        ),
        "{page}"
    );
    assert!(page.contains("ops &lt;&amp;&gt;"));
    assert!(page.contains("id=\"explain\""), "no explanation: {page}");
    let file = dir.path().join("miner.png");
    let size = screenshot(format!("http://{addr}/miners/{granted}"), &file, 2200).await;
    assert!(size > 20_000, "miner screenshot of {size} bytes");
    assert!(
        page.contains("id=\"standing\"") && page.contains("href=\"/network\""),
        "no standing against the network: {page}"
    );

    // The network page: criteria as the API scores them, the charts, the tiers.
    let (status, body) = common::http_get(addr, "/v1/network").await;
    assert_eq!(status, 200, "{body}");
    let api: Json = serde_json::from_str(&body).unwrap();
    let criteria = api["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 4, "{api}");
    let page = dom(format!("http://{addr}/network")).await;
    for c in criteria {
        let name = c["name"].as_str().unwrap();
        let label = c["state"].as_str().unwrap().replace('_', " ");
        let start = page
            .find(&format!("data-criterion=\"{name}\""))
            .unwrap_or_else(|| panic!("no row for {name}: {page}"));
        let row = &page[start..start + page[start..].find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("data-state=\"{label}\"")),
            "{name}: {row}"
        );
    }
    // 800 blocks are far less than the 14-day baseline: the relative criteria say so.
    assert_eq!(criteria[0]["state"], "not_enough_history", "{api}");
    let coverage = api["bonus_coverage"].as_f64().unwrap();
    assert!(
        page.contains(&format!("{:.1} %", coverage * 100.0)),
        "coverage {coverage} not shown"
    );
    // Five charts; those of figures an 800-block history cannot know yet (retention after a
    // week, a complete chain day's downtime) say so instead of drawing empty axes.
    assert_eq!(page.matches("<div class=\"chart\">").count(), 5, "{page}");
    assert!(page.matches("<svg").count() >= 3, "charts missing: {page}");
    assert!(page.contains("Retention: no data yet"), "{page}");
    assert!(
        page.contains("<polyline") && page.contains("id=\"tiers\""),
        "{page}"
    );
    assert!(
        page.contains("&gt;= 0.95: <b>") && page.contains("id=\"cells\""),
        "{page}"
    );
    assert!(page.contains("id=\"capped\""), "{page}");
    let file = dir.path().join("network.png");
    let size = screenshot(format!("http://{addr}/network"), &file, 1500).await;
    assert!(size > 20_000, "network screenshot of {size} bytes");
    // `TENURE_SCREENSHOTS=dir` keeps them (the README's pictures come from here).
    if let Ok(keep) = std::env::var("TENURE_SCREENSHOTS") {
        for f in ["leaderboard.png", "miner.png", "network.png"] {
            std::fs::copy(dir.path().join(f), Path::new(&keep).join(f)).unwrap();
        }
    }
    let page = dom(format!("http://{addr}/miners/{decorated}")).await;
    assert!(page.contains("id=\"badges\"") && page.contains(&milestone));
    // Unknown miners and the status page.
    let (status, body) = common::http_get(addr, "/miners/5UnknownKey").await;
    assert_eq!(status, 404, "{body}");
    let page = dom(format!("http://{addr}/status")).await;
    assert!(
        page.contains("Chain head") && page.contains("Leader"),
        "{page}"
    );

    let _ = daemon.kill();
    let _ = daemon.wait();
    devnet.stop().await;
}
