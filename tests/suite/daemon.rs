//! The real `tenure` binary: start-up, migrations, health endpoints, SIGTERM, and the exits an
//! operator sees for a bad configuration or an unreachable database.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

const BIN: &str = env!("CARGO_BIN_EXE_tenure");

/// A running daemon, killed if the test fails before stopping it.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let mut child = Command::new(BIN)
            .args(["--config", config.to_str().unwrap(), "run"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tenure");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tenure] {line}");
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Daemon { child, lines }
    }

    /// Waits for a log line whose message is `message`, without blocking the test's runtime
    /// (the devnet serves from it, and the daemon asks the node for its genesis at start).
    async fn wait_for(&self, message: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            match self.lines.try_recv() {
                Ok(v) if v["message"] == message => return v,
                Ok(_) => {}
                Err(mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => panic!("no log line {message:?} within {within:?}"),
            }
        }
    }

    /// The address of the log line `message` ("http server listening", "web pages listening").
    async fn listening(&self, message: &str) -> SocketAddr {
        let line = self.wait_for(message, Duration::from_secs(30)).await;
        line["addr"].as_str().unwrap().parse().unwrap()
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tenure did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("tenure.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[sqlx::test(migrations = false)]
async fn runs_migrates_serves_and_exits_zero_on_sigterm(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let devnet = tenure_devnet::Devnet::start(&tenure_devnet::DevnetArgs {
        port: 0,
        block_ms: 50,
        // An epoch every 10 blocks: the memory saved at the stop below holds tranches.
        tempo: 9,
        wallet_path: Some(dir.path().to_path_buf()),
        ..tenure_devnet::DevnetArgs::default()
    })
    .await
    .unwrap();
    let mut c = common::daemon::config(&devnet.url(), &common::url_of(&pool), 1);
    // The test reads the daemon's own info lines (where it listens, when it runs).
    c.log.level = "info".into();
    c.uptime.sources = tenure::config::Config::default().uptime.sources;
    c.ingest.start_block = None;
    common::daemon::http(&mut c, 0, None);
    c.web.listen = Some(([127, 0, 0, 1], 0).into());
    c.daemon.shutdown_deadline_secs = 5;
    common::daemon::devnet_wallet(&mut c, dir.path());
    c.scores.source = tenure::config::ScoresSource::Uniform;
    let config = common::daemon::write(dir.path(), "tenure", &c);
    let mut daemon = Daemon::start(&config);
    let addr = daemon.listening("http server listening").await;
    let web = daemon.listening("web pages listening").await;
    daemon
        .wait_for("tenure running", Duration::from_secs(30))
        .await;
    // web.listen: the pages on their own address, the API and metrics not there (and the
    // pages not on the API's address).
    let (status, body) = common::http_get(web, "/status").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<h1>Status</h1>"), "{body}");
    for path in ["/metrics", "/readyz", "/v1/weights/submissions"] {
        assert_eq!(
            common::http_get(web, path).await.0,
            404,
            "{path} on the web address"
        );
    }
    assert_eq!(common::http_get(addr, "/status").await.0, 404);

    // The daemon applied the schema to the empty database.
    let versions = tenure::db::applied_versions(&pool).await.unwrap();
    assert_eq!(versions.len(), tenure::db::MIGRATOR.iter().count());

    let (status, body) = common::http_get(addr, "/livez").await;
    assert_eq!(status, 200, "{body}");
    // Ready once the schema is up and blocks are being ingested from the devnet.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = common::http_get(addr, "/readyz").await;
        if status == 200 {
            assert!(body.contains("\"startup\":{\"ok\":true}"), "{body}");
            assert!(body.contains("\"ingest\":{\"ok\":true}"), "{body}");
            assert!(body.contains("\"weights\":{\"ok\":true}"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "not ready within 30 s: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = common::http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("tenure_build_info"), "{body}");
    for series in [
        "tenure_ingest_cursor_block",
        "tenure_ingest_block_seconds_count",
        "tenure_chain_rpc_seconds_count",
        "tenure_ingest_block_age_seconds",
    ] {
        assert!(body.contains(series), "{series} missing: {body}");
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    let earned = "SELECT count(*) FROM tranches WHERE kind = 'emission'";
    while common::scalar(&pool, earned).await == 0 {
        assert!(Instant::now() < deadline, "no epoch ingested within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = Instant::now();
    daemon.sigterm();
    let status = daemon.wait_exit(Duration::from_secs(5));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );
    assert!(sent.elapsed() < Duration::from_secs(5));
    daemon
        .wait_for("shutdown complete", Duration::from_secs(1))
        .await;
    drop(daemon);

    // The graceful stop saved the writer's memory at the cursor; the next start takes it back
    // instead of loading it from the tables, and goes on ingesting.
    let snapshot = "SELECT count(*) FROM engine_snapshots x JOIN ingest_cursor c
                     ON c.netuid = x.netuid AND c.block_number = x.cursor_block
                    AND c.block_hash = x.cursor_hash";
    assert_eq!(common::scalar(&pool, snapshot).await, 1);
    let stopped_at = common::scalar(&pool, "SELECT block_number FROM ingest_cursor").await;
    let mut daemon = Daemon::start(&config);
    let addr = daemon.listening("http server listening").await;
    let restored = daemon
        .wait_for(
            "vesting window and uptime rollups restored as the last stop saved them",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(restored["cursor"], stopped_at, "{restored}");
    assert!(restored["tranches"].as_u64().unwrap() > 0, "{restored}");
    assert!(restored["uptime_rows"].is_u64(), "{restored}");
    assert_eq!(
        common::scalar(&pool, "SELECT count(*) FROM engine_snapshots").await,
        0,
        "a snapshot is used once"
    );
    let (_, metrics) = common::http_get(addr, "/metrics").await;
    assert!(metrics.contains("tenure_ingest_memory_warm 1"), "{metrics}");
    assert!(
        metrics.contains("tenure_ingest_memory_load_seconds "),
        "{metrics}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::scalar(&pool, "SELECT block_number FROM ingest_cursor").await <= stopped_at {
        assert!(
            Instant::now() < deadline,
            "no block ingested after the warm start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.sigterm();
    assert_eq!(daemon.wait_exit(Duration::from_secs(5)).code(), Some(0));
    devnet.stop().await;
}

#[test]
fn a_bad_config_exits_78_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[vesting]\namount_tiers = [{ min = 0.5, multiplier = 1.2 }, { min = 0.3, multiplier = 1.3 }]\n",
    );
    for args in [vec!["run"], vec!["migrate"], vec!["config", "check"]] {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(config.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains("vesting.amount_tiers[1].min"), "{stderr}");
    }
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/tenure.toml", "run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tenure.toml"));
}

#[test]
fn config_check_prints_the_effective_config_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[database]\nurl = \"postgres://u:topsecret@db/t\"\n",
    );
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .env("TENURE__VESTING__LOOKBACK_DAYS", "120")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("lookback_days = 120"), "{stdout}");
    assert!(stdout.contains("db/t"), "{stdout}");
    assert!(!stdout.contains("topsecret"), "{stdout}");
    let parsed: toml::Table = toml::from_str(&stdout).expect("the output is TOML");
    assert!(parsed.contains_key("uptime"));
}

#[test]
fn an_unreachable_database_is_a_clear_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[database]\nurl = \"postgres://tenure:pw@127.0.0.1:1/tenure\"\nstartup_retry_secs = 1\nconnect_timeout_secs = 1\n[http]\nlisten = \"127.0.0.1:0\"\n",
    );
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains(":pw@"), "password leaked: {stderr}");
}

/// A database filled from one chain and a node of another: the daemon exits 78 at start with
/// both genesis hashes and writes nothing (ingestion never begins).
#[sqlx::test]
async fn a_node_of_another_chain_stops_the_daemon_before_it_writes(pool: PgPool) {
    use tenure_devnet::{Devnet, DevnetArgs};
    let _serial = common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let devnet = |seed| DevnetArgs {
        port: 0,
        seed,
        block_ms: 20,
        miners: 4,
        validators: 1,
        halt_at: 40,
        ..DevnetArgs::default()
    };
    let first = Devnet::start(&devnet(41)).await.unwrap();
    let mut cfg = common::daemon::config(&first.url(), &common::url_of(&pool), 1);
    cfg.http.enabled = false;
    cfg.weights.enabled = false;
    let (_, mut daemon) = common::daemon::start(dir.path(), "first", &cfg);
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = |sql: &'static str| common::scalar(&pool, sql);
    while count("SELECT coalesce(max(block_number), 0) FROM ingest_cursor").await < 30 {
        assert!(
            Instant::now() < deadline,
            "the first chain was not ingested"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    common::sigterm(&daemon);
    common::wait_exit(&mut daemon, 30).await;
    first.stop().await;
    assert_eq!(count("SELECT count(*) FROM chain_identity").await, 1);
    let blocks = count("SELECT count(*) FROM blocks").await;

    let second = Devnet::start(&devnet(42)).await.unwrap();
    cfg.chain.endpoints = vec![second.url()];
    let file = common::daemon::write(dir.path(), "second", &cfg);
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", file.to_str().unwrap(), "run"])
        .env("TENURE__DATABASE__URL", cfg.database.url.expose())
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("wrong chain") && err.contains("Nothing was written"),
        "{err}"
    );
    // Both sides named: the network (as the node calls it) and the genesis hashes.
    let (recorded, network): (Vec<u8>, String) =
        sqlx::query_as("SELECT genesis_hash, network FROM chain_identity")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(network, "tenure devnet");
    assert!(
        err.contains(&format!(
            "follows \"tenure devnet\" with genesis 0x{}",
            hex::encode(recorded)
        )),
        "{err}"
    );
    let genesis = second.node.chain().blocks[0].hash;
    assert!(
        err.contains(&format!("{genesis:?}").replacen("0x", "with genesis 0x", 1)),
        "{err}"
    );
    assert_eq!(
        count("SELECT count(*) FROM blocks").await,
        blocks,
        "a block was written"
    );
    second.stop().await;
}
