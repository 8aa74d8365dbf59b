//! The incentive lab's `simulate`: the shipped populations through the real engines, and the
//! command as operators run it.

use std::path::{Path, PathBuf};
use std::process::Command;

use tenure::config::{Config, UptimeCombine};
use tenure::lab::population::Population;
use tenure::lab::report::Report;
use tenure::lab::simulate::Rules;

const BIN: &str = env!("CARGO_BIN_EXE_tenure");

fn population(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/populations/{name}.toml"))
}

fn run(combine: UptimeCombine, days: u32) -> (Population, Report) {
    let pop = Population::load(&population("healthy")).expect("healthy population");
    let mut cfg = Config::default();
    cfg.uptime.combine = combine;
    let report = tenure::lab::simulate(&pop, &Rules::of(&cfg), days).expect("simulate");
    (pop, report)
}

/// docs/rules.md's claim for the default `scaled` combination, on the shipped healthy subnet over
/// 200 days: every tier changes some miner's multiplier, the perfect group ends at the cap, and
/// every longevity step raises a perfect miner's multiplier the day it is reached. The raw
/// product (`multiplicative`) leaves the 90- and 180-day steps dead.
#[test]
fn simulate_proves_the_defaults() {
    let (pop, scaled) = run(UptimeCombine::Scaled, 200);
    assert!(
        scaled.dead_tiers.is_empty(),
        "dead: {:?}",
        scaled.dead_tiers
    );
    let cap = Config::default().uptime.max_multiplier;
    let end = scaled.group_day("veterans", 200).expect("day 200");
    assert_eq!(end.uptime_multiplier, cap, "{end:?}");
    let before = scaled.group_day("veterans", 179).expect("day 179");
    assert!(before.uptime_multiplier < cap, "{before:?}");
    for days in [14, 30, 90, 180] {
        let t = scaled
            .tier(&format!("uptime.longevity >= {days}"))
            .expect("tier");
        assert_eq!(t.first_day, Some(days), "{t:?}");
        assert!(t.groups.contains(&"veterans".to_string()), "{t:?}");
    }

    // Retention, from the population file itself: the cohort of day 0 is the veterans and the
    // leavers; only the leavers leave (on their `leaves_day`, after 30 days, before 90).
    let count = |name: &str| pop.groups.iter().find(|g| g.name == name).unwrap().miners;
    let (veterans, leavers) = (count("veterans"), count("leavers"));
    let last = scaled.network.last().unwrap();
    assert_eq!(last.day, 200);
    assert_eq!(last.retention[1], Some(1.0));
    let kept = f64::from(veterans) / f64::from(veterans + leavers);
    assert_eq!(last.retention[2], Some(kept));
    assert_eq!(last.capped_uptime, veterans as usize);

    let (_, raw) = run(UptimeCombine::Multiplicative, 200);
    for days in [90, 180] {
        let label = format!("uptime.longevity >= {days}");
        assert!(raw.dead_tiers.contains(&label), "{:?}", raw.dead_tiers);
    }
    for days in [14, 30] {
        let label = format!("uptime.longevity >= {days}");
        assert!(!raw.dead_tiers.contains(&label), "{:?}", raw.dead_tiers);
    }
    let saturated = raw.group_day("veterans", 90).unwrap();
    assert_eq!(saturated.uptime_multiplier, cap, "{saturated:?}");
}

/// `tenure simulate` as an operator runs it: text, JSON, SVG charts; a bad population file is
/// a configuration error naming the file and the key.
#[test]
fn simulate_command() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("charts");
    let out = Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/tenure.toml",
            "simulate",
            "--days",
            "3",
        ])
        .arg("--population")
        .arg(population("flapping"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "an explicit config must exist");

    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["simulate", "--days", "20", "--json", "--svg"])
        .arg(&svg)
        .arg("--population")
        .arg(population("flapping"))
        .env_remove("TENURE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["days"], 20);
    assert_eq!(json["network"].as_array().unwrap().len(), 20);
    let groups: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "reliable",
            "flapping",
            "weekend-off",
            "down-6h-daily",
            "outages",
            "dead"
        ]
    );
    // Dead miners scored 0 get no weight; the reliable ones get the largest share.
    let share = |g: usize| {
        json["groups"][g]["days"][19]["weight_share"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(share(5), 0.0);
    assert!((1..5).all(|g| share(0) > share(g)), "{json}");
    for chart in [
        "uptime-multiplier",
        "vesting-multiplier",
        "weight-share",
        "network",
        "downtime",
    ] {
        let text = std::fs::read_to_string(svg.join(format!("{chart}.svg"))).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("polyline"),
            "{chart}"
        );
    }

    let text = Command::new(BIN)
        .current_dir(dir.path())
        .args(["simulate", "--days", "10", "--population"])
        .arg(population("dumpers"))
        .env_remove("TENURE_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("built-in default rules"), "{text}");
    assert!(text.contains("instant-sellers"), "{text}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[groups]]\nname = \"x\"\nminers = 1\nuptime = { kind = \"always_up\" }\nholding = { kind = \"sells\", fraction = 2.0, after_days = 1 }\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["simulate", "--days", "3", "--population"])
        .arg(&bad)
        .env_remove("TENURE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("`groups[0].holding.fraction`"),
        "{err}"
    );
}

/// Runs `tenure --config <file> <args>` with the daemon's database URL; stdout must be JSON.
async fn cli_json(file: &Path, cfg: &Config, args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", file.to_str().unwrap()])
        .args(args)
        .env("TENURE__DATABASE__URL", cfg.database.url.expose())
        .stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Row counts of the tables a replay must never write.
async fn live_tables(pool: &sqlx::PgPool) -> Vec<i64> {
    let mut n = Vec::new();
    for t in [
        "vesting_multipliers",
        "uptime_multipliers",
        "achievements",
        "weight_submissions",
        "weight_entries",
        "network_epochs",
        "uptime_rounds",
    ] {
        n.push(count(pool, &format!("SELECT count(*) FROM {t}")).await);
    }
    n
}

/// The incentive lab's test of replay (docs/rules.md): a devnet history with activity (stake sold, moved, owners and
/// coldkeys swapped) and probes of real axons, ingested and weighted by the daemon, then replayed
/// with the configuration that was in force: every recorded vesting and uptime multiplier and
/// every submitted u16 vector comes back bit for bit, and the alternative (the same file)
/// changes nothing. A second replay with larger caps changes exactly the multipliers above 1
/// (counted independently from the recorded rows) and nothing else. No live table is written.
#[sqlx::test]
async fn replay_reproduces_the_recorded_history(pool: sqlx::PgPool) {
    use tenure::config::{ScoresSource, UptimeSource};
    use tenure_devnet::{Devnet, DevnetArgs};
    let _serial = crate::common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    const HALT: u64 = 660;
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        netuid: 1,
        tempo: 20,
        miners: 10,
        validators: 2,
        block_ms: 50,
        activity: 25,
        axons: true,
        rate_limit: 10,
        halt_at: HALT,
        wallet_path: Some(dir.path().to_path_buf()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let mut cfg = crate::common::daemon::config(&devnet.url(), &crate::common::url_of(&pool), 1);
    crate::common::daemon::devnet_wallet(&mut cfg, dir.path());
    cfg.http.enabled = false;
    cfg.scores.source = ScoresSource::Uniform;
    cfg.weights.lead_blocks = 10;
    cfg.uptime.sources = vec![UptimeSource::Probe];
    cfg.uptime.probe_interval_blocks = 5;
    cfg.uptime.probe.timeout_ms = 300;
    let (file, mut daemon) = crate::common::daemon::start(dir.path(), "tenure", &cfg);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    let mut granted = false;
    loop {
        let cursor = count(
            &pool,
            "SELECT coalesce(max(block_number), 0) FROM ingest_cursor",
        )
        .await;
        let planned = count(&pool, "SELECT count(*) FROM weight_submissions").await;
        if cursor >= 300 && !granted {
            // An operator grant in the middle of the history: later epochs pay it.
            let hotkey: String = sqlx::query_scalar(
                "SELECT hotkey FROM miners WHERE uid = 5 AND deregistered_at_block IS NULL",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let out = Command::new(BIN)
                .args([
                    "--config",
                    file.to_str().unwrap(),
                    "uptime",
                    "grant",
                    &hotkey,
                ])
                .args(["--reason", "ran the subnet's docs", "--days", "30"])
                .env("TENURE__DATABASE__URL", cfg.database.url.expose())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            granted = true;
        }
        if cursor as u64 >= HALT - 2 && planned >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cursor {cursor}, {planned} plans"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    crate::common::sigterm(&daemon);
    crate::common::wait_exit(&mut daemon, 30).await;
    // A late round, as a validator posting old observations makes: written now (cursor at the
    // end of the history) for block 350 (chain hour 1), every miner down. The rollups of hour 1
    // and day 0 now count it; the epochs between blocks 350 and the end never did.
    {
        use tenure::uptime::store::{self, Round, Sample, Source};
        let mut tx = pool.begin().await.unwrap();
        let registered = store::registered_at(&mut tx, 1, 350).await.unwrap();
        let samples: Vec<Sample> = registered
            .iter()
            .map(|r| Sample {
                miner_id: r.miner_id,
                up: false,
                reported: true,
                latency_ms: None,
                compute_score: None,
                error: None,
            })
            .collect();
        let round = Round {
            source: Source::Api,
            block: 350,
            observed_at: store::time_of(&pool, 1, 350).await.unwrap().unwrap(),
            duration_ms: None,
        };
        store::record_round(&mut tx, 1, &round, &samples)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let before = live_tables(&pool).await;

    let same = cli_json(&file, &cfg, &["replay", "--json"]).await;
    let r = &same["reproduced"];
    assert_eq!(r["differing"], 0, "{r}");
    let recorded_vesting = count(&pool, "SELECT count(*) FROM vesting_multipliers").await;
    let recorded_uptime = count(&pool, "SELECT count(*) FROM uptime_multipliers").await;
    let submissions = count(&pool, "SELECT count(*) FROM weight_submissions").await;
    assert_eq!(r["vesting_multipliers"], recorded_vesting, "{r}");
    assert_eq!(r["uptime_multipliers"], recorded_uptime, "{r}");
    assert_eq!(r["weight_vectors"], submissions, "{r}");
    assert!(recorded_vesting > 100 && recorded_uptime > 100 && submissions >= 4);
    // The history is not trivial: some miners earned more than 1 from each engine.
    let boosted_vesting = count(
        &pool,
        "SELECT count(*) FROM vesting_multipliers WHERE multiplier > 1",
    )
    .await;
    let boosted_uptime = count(
        &pool,
        "SELECT count(*) FROM uptime_multipliers WHERE multiplier > 1",
    )
    .await;
    assert!(
        boosted_vesting > 0 && boosted_uptime > 0,
        "{boosted_vesting} {boosted_uptime}"
    );
    let paid = count(
        &pool,
        "SELECT count(*) FROM uptime_multipliers WHERE bonuses::text LIKE '%operator grant%'",
    )
    .await;
    assert!(paid > 0, "no epoch paid the grant");
    let changed = &same["changed"];
    assert_eq!(changed["vesting_multipliers"], 0, "{changed}");
    assert_eq!(changed["uptime_multipliers"], 0, "{changed}");
    assert_eq!(changed["weight_vectors"], 0, "{changed}");

    let mut alt = cfg.clone();
    alt.vesting.max_multiplier = 1.8;
    alt.uptime.max_multiplier = 3.0;
    let alt_file = crate::common::daemon::write(dir.path(), "alt", &alt);
    let other = cli_json(&alt_file, &alt, &["replay", "--json"]).await;
    assert_eq!(other["reproduced"]["differing"], 0);
    let changed = &other["changed"];
    assert_eq!(changed["vesting_multipliers"], boosted_vesting, "{changed}");
    assert_eq!(changed["uptime_multipliers"], boosted_uptime, "{changed}");
    assert!(changed["weight_vectors"].as_u64().unwrap() > 0, "{changed}");
    assert!(!other["movers"].as_array().unwrap().is_empty());
    let text = Command::new(BIN)
        .args(["--config", alt_file.to_str().unwrap(), "replay"])
        .env("TENURE__DATABASE__URL", alt.database.url.expose())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("all reproduced exactly") && text.contains("largest movers"),
        "{text}"
    );
    assert_eq!(
        live_tables(&pool).await,
        before,
        "a replay wrote a live table"
    );
    devnet.stop().await;
}

/// `tenure vesting simulate` needs only the tiers: on a fresh clone (no configuration file) it
/// runs on the built-in defaults; an explicitly named file must still exist.
#[test]
fn vesting_simulate_runs_on_the_built_in_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["vesting", "simulate", "--fraction", "0.55", "--days", "40"])
        .env_remove("TENURE_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("amount tier 1.2, duration tier 1.2, multiplier 1.3333"),
        "{text}"
    );
    let out = Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/tenure.toml",
            "vesting",
            "simulate",
            "--table",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}
