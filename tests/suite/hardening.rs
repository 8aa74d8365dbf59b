//! Hardening: each way in from outside that was found open (F1–F10 of the hardening issue) and
//! the weight path's faults (two sets in one epoch, the back-fill deadlock), each reproduced.
//! The listeners' edge runs in-process over real TCP; the rest drive the real `tenure` binary
//! against the devnet over real WebSockets and a real PostgreSQL.

use crate::common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use sqlx::PgPool;
use tenure::config::{Config, ScoresSource, UptimeSource};
use tenure_devnet::{Devnet, DevnetArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_tenure");
const TOKEN: &str = "hardening-test-token-0123456789";

/// A connection from `source` (any 127.x address: one client address each).
async fn connect_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(to).await
}

/// Whether the server closed `s` (EOF or reset) within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// The edge in front of a small app: `/` answers, `/slow` takes 3 s, `/echo` reads a body.
async fn edge(
    limits: tenure::edge::Limits,
) -> (
    SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let app = axum::Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route(
            "/echo",
            post(|body: String| async move { body.len().to_string() }),
        );
    let app = tenure::edge::guard(app, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let metrics = Arc::new(tenure::metrics::Metrics::new(1));
    let served = tokio::spawn(tenure::edge::serve(
        "test",
        listener,
        app,
        limits,
        metrics,
        cancel.clone(),
    ));
    (addr, cancel, served)
}

fn small_limits() -> tenure::edge::Limits {
    tenure::edge::Limits {
        max_connections: 8,
        max_per_client: 3,
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        max_body_bytes: 2048,
    }
}

/// F1, F2, F8: connection caps per listener and per client, idle and slow-header clients
/// closed, body and request limits, security headers, and a shutdown that does not wait for
/// idle connections.
#[tokio::test]
async fn the_edge_caps_connections_closes_idle_clients_and_sets_security_headers() {
    let (addr, cancel, served) = edge(small_limits()).await;
    let ip = |last: u8| IpAddr::from([127, 0, 0, last]);

    // Per client address: the fourth connection from one address is closed at once.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(ip(2), addr).await.unwrap());
    }
    let mut over = connect_from(ip(2), addr).await.unwrap();
    assert!(
        closed_within(&mut over, Duration::from_millis(500)).await,
        "4th connection of one client stays open"
    );
    for s in &mut held {
        assert!(
            !closed_within(s, Duration::from_millis(50)).await,
            "an admitted connection was closed early"
        );
    }
    // In all: five more clients fill the listener's 8 slots, the ninth connection is closed.
    for last in 3..8 {
        held.push(connect_from(ip(last), addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ninth = connect_from(ip(9), addr).await.unwrap();
    assert!(
        closed_within(&mut ninth, Duration::from_millis(500)).await,
        "connection over max_connections stays open"
    );

    // Idle connections are closed after the header-read timeout, and the slots come back.
    let started = Instant::now();
    for s in &mut held {
        assert!(
            closed_within(s, Duration::from_secs(3)).await,
            "idle connection not closed"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    let (status, _) = common::http_get(addr, "/").await;
    assert_eq!(status, 200);

    // A slow client that never finishes its headers is closed too.
    let mut slow = connect_from(ip(10), addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(3)).await,
        "slow-header client not closed"
    );

    // Security headers on every answer, body limit, request timeout.
    let raw = raw_request(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    for h in [
        "content-security-policy: default-src 'none'",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "x-frame-options: DENY",
    ] {
        assert!(
            raw.to_ascii_lowercase().contains(&h.to_ascii_lowercase()),
            "missing {h}: {raw}"
        );
    }
    let big = "x".repeat(4096);
    let raw = raw_request(
        addr,
        &format!("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{big}", big.len()),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    let raw = raw_request(
        addr,
        "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        raw.starts_with("HTTP/1.1 503") && raw.contains("request_timeout_secs"),
        "{raw}"
    );

    // Shutdown with idle connections open ends promptly.
    let mut idle = Vec::new();
    for last in 11..14 {
        idle.push(connect_from(ip(last), addr).await.unwrap());
    }
    let stopping = Instant::now();
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(6), served)
        .await
        .expect("the listener did not stop")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
}

async fn raw_request(addr: SocketAddr, req: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answer")
        .unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// The API with a token over real TCP, behind the edge.
async fn api(pool: PgPool) -> SocketAddr {
    let metrics = Arc::new(tenure::metrics::Metrics::new(1));
    let health = Arc::new(tenure::health::Health::new(metrics.clone()));
    let mut cfg = tenure::config::Config::default();
    cfg.chain.netuid = 1;
    cfg.scores.source = tenure::config::ScoresSource::Api;
    let app = tenure::api::router(tenure::api::AppState {
        pool,
        metrics: metrics.clone(),
        health,
        api: Arc::new(tenure::api::ApiConfig::from_config(
            &cfg,
            Some(tenure::config::Secret::new(TOKEN)),
        )),
    });
    let limits = tenure::edge::Limits::from_config(&cfg.http);
    let app = tenure::edge::guard(app, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tenure::edge::serve(
        "api",
        listener,
        app,
        limits,
        metrics,
        CancellationToken::new(),
    ));
    addr
}

async fn write(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let auth = format!("Bearer {TOKEN}");
    common::http_request(addr, method, path, &[("Authorization", &auth)], Some(body)).await
}

/// F3, F5, F6, F7: a score beyond the documented bound, NUL and escape sequences in any string,
/// a grant expiring in 100 million days: each is a 400 with its reason, and nothing is stored.
#[sqlx::test]
async fn bad_bodies_are_refused_with_the_reason_and_store_nothing(pool: PgPool) {
    sqlx::query(
        "INSERT INTO ingest_cursor (netuid, block_number, block_hash, first_block) VALUES (1, 100, decode(repeat('00', 32), 'hex'), 0)",
    )
        .execute(&pool)
        .await
        .unwrap();
    let addr = api(pool.clone()).await;
    let hotkey = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    let (status, body) = write(
        addr,
        "POST",
        "/v1/scores",
        &format!(r#"{{"scores": {{"{hotkey}": 1.79e308}}}}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("1e12"), "the bound is named: {body}");

    for (method, path, json) in [
        (
            "POST",
            "/v1/uptime/grants",
            format!(r#"{{"hotkey": "{hotkey}", "reason": "nul\u0000here", "days": 3}}"#),
        ),
        (
            "POST",
            "/v1/uptime/grants",
            format!(r#"{{"hotkey": "{hotkey}", "reason": "\u001b[31mred", "days": 3}}"#),
        ),
        (
            "PUT",
            "/v1/vesting/mode",
            r#"{"mode": "shadow", "reason": "line\nbreak"}"#.to_string(),
        ),
        (
            "POST",
            "/v1/scores",
            format!(r#"{{"scores": {{"{hotkey}\u0000": 1.0}}}}"#),
        ),
    ] {
        let (status, body) = write(addr, method, path, &json).await;
        assert_eq!(status, 400, "{method} {path} {json}: {body}");
        assert!(body.contains("control character"), "{body}");
        assert!(
            !body.to_lowercase().contains("postgres"),
            "no database text: {body}"
        );
    }

    let (status, body) = write(
        addr,
        "POST",
        "/v1/uptime/grants",
        &format!(r#"{{"hotkey": "{hotkey}", "reason": "forever", "days": 100000000}}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("days"), "{body}");
    // The server is still there (a panic would have reset the connection).
    assert_eq!(common::http_get(addr, "/livez").await.0, 200);

    // A body without the JSON content type is refused too.
    let raw = raw_request(
        addr,
        &format!("PUT /v1/vesting/mode HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\nContent-Length: 16\r\n\r\n{{\"mode\": \"off\"}}"),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 415"), "{raw}");

    for table in ["base_scores", "grants", "settings", "settings_audit"] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(n, 0, "{table} has rows");
    }
}

fn tenure(args: &[&str], config: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run tenure")
}

/// F4, F10: a password in the URL's query never appears in `config check`, logs or errors; a
/// listener beyond loopback without a token refuses to start unless explicitly allowed.
#[test]
fn query_passwords_are_redacted_and_a_public_listener_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenure.toml");
    std::fs::write(
        &config,
        "[chain]\nendpoints = [\"ws://127.0.0.1:1\"]\nnetuid = 1\n\
         [database]\nurl = \"postgres://tenure@127.0.0.1:1/tenure?sslmode=disable&password=hunter2-in-query\"\nstartup_retry_secs = 1\nconnect_timeout_secs = 1\n\
         [weights]\nenabled = false\n[uptime]\nsources = [\"api\"]\n[http]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let out = tenure(&["config", "check"], &config, &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("password=%3Credacted%3E") || text.contains("password=<redacted>"),
        "{text}"
    );
    // The daemon's start-up logs and its error about the unreachable database.
    let out = tenure(&["run"], &config, &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(
        text.contains("127.0.0.1:1"),
        "the error names the server: {text}"
    );
    assert!(!text.contains("hunter2"), "{text}");

    let public = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "[chain]\nendpoints = [\"ws://127.0.0.1:1\"]\nnetuid = 1\n[http]\nlisten = \"0.0.0.0:9477\"\n{extra}"
            ),
        )
        .unwrap();
        tenure(&["config", "check"], &config, &[])
    };
    let out = public("");
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http.listen") && err.contains("tenure.toml"),
        "{err}"
    );
    assert!(
        public("allow_public_without_token = true\n")
            .status
            .success()
    );
    assert!(
        public(&format!("api_token = \"{TOKEN}\"\n"))
            .status
            .success()
    );
}

/// F7: text that came through the API (or an older row) is printed with its control characters
/// escaped: no escape sequence reaches the operator's terminal.
#[sqlx::test]
async fn the_cli_escapes_control_characters(pool: PgPool) {
    sqlx::query(
        "INSERT INTO grants (netuid, hotkey, bonus, reason, granted_by, expires_at)
         VALUES (1, '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY', 0.1,
                 E'paint \\x1b[31mred\\x1b[0m\\rover', 'api', now() + interval '1 day')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenure.toml");
    std::fs::write(
        &config,
        format!(
            "[chain]\nendpoints = [\"ws://127.0.0.1:1\"]\nnetuid = 1\n[database]\nurl = {:?}\n",
            common::url_of(&pool)
        ),
    )
    .unwrap();
    let out = tenure(&["uptime", "grants"], &config, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("paint"), "{stdout}");
    assert!(
        !out.stdout.contains(&0x1b) && !out.stdout.contains(&b'\r'),
        "raw control bytes: {stdout:?}"
    );
    assert!(stdout.contains("\\u{1b}[31mred"), "{stdout}");
}

/// The cause of the back-fill deadlock, deterministically: a chain call that was polled once
/// (it began connecting) and then left unpolled — as reads queued in ingestion's `buffered`
/// pipeline are while the pipeline's task plans a block — must not stop another call. With
/// the connection behind an async mutex, the first future held the lock while parked and the
/// second waited forever.
#[tokio::test]
async fn a_parked_chain_call_does_not_block_the_others() {
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 50,
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let client = tenure::chain::client::ChainClient::new(tenure::chain::client::Settings {
        endpoints: vec![devnet.url()],
        archive_endpoints: Vec::new(),
        rpc_timeout: Duration::from_secs(5),
        stall_timeout: Duration::from_secs(10),
        reconnect_initial: Duration::from_millis(50),
        reconnect_max: Duration::from_secs(1),
    });
    for _ in 0..3 {
        client.disconnect().await;
        let mut parked = Box::pin(client.finalized_head());
        assert!(futures::poll!(parked.as_mut()).is_pending());
        let head = tokio::time::timeout(Duration::from_secs(10), client.finalized_head())
            .await
            .expect("a second call waited behind a parked one")
            .unwrap();
        assert!(head.number > 0 || head.hash != [0; 32]);
        // The parked call still completes when polled again.
        let again = tokio::time::timeout(Duration::from_secs(10), parked)
            .await
            .expect("parked call")
            .unwrap();
        assert!(again.number <= head.number + 5);
    }
    devnet.stop().await;
}

fn finalized(d: &Devnet) -> u64 {
    d.node.chain().finalized
}

/// Waits until the devnet has finalized block `n`.
async fn until_block(d: &Devnet, n: u64) {
    while finalized(d) < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Net {
    devnet: Devnet,
    dir: tempfile::TempDir,
    ledger: PathBuf,
}

const NETUID: u16 = 1;
const TEMPO: u16 = 20;

async fn net(args: DevnetArgs) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        netuid: NETUID,
        tempo: TEMPO,
        wallet_path: Some(dir.path().to_path_buf()),
        ledger: Some(ledger.clone()),
        ..args
    })
    .await
    .unwrap();
    Net {
        devnet,
        dir,
        ledger,
    }
}

/// A daemon's configuration on `net`: the devnet's validator wallet, the API token, HA
/// instance `name`, then the test's own changes; written as `<name>.toml`.
fn daemon_config(
    net: &Net,
    db: &str,
    port: u16,
    name: &str,
    change: impl FnOnce(&mut Config),
) -> (PathBuf, Config) {
    let mut c = common::daemon::config(&net.devnet.url(), db, NETUID);
    common::daemon::devnet_wallet(&mut c, net.dir.path());
    common::daemon::http(&mut c, port, Some(TOKEN));
    c.ha.instance = name.into();
    c.ha.lease_check_ms = 200;
    c.ha.takeover_delay_ms = 1000;
    change(&mut c);
    (common::daemon::write(net.dir.path(), name, &c), c)
}

/// A daemon ("a") on `net` and the test's database, on a free port: its address and config.
fn daemon_on_free_port(
    net: &Net,
    pool: &PgPool,
    change: impl FnOnce(&mut Config),
) -> (SocketAddr, (PathBuf, Config)) {
    let port = common::free_port();
    let config = daemon_config(net, &common::url_of(pool), port, "a", change);
    (SocketAddr::from(([127, 0, 0, 1], port)), config)
}

/// Waits (at most a minute) until ingestion has written block `n`.
async fn wait_cursor(pool: &PgPool, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while cursor(pool).await < n {
        assert!(
            Instant::now() < deadline,
            "block {n} was not ingested within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every `weights_set` of the ledger by the chain epoch it landed in.
fn sets_per_epoch(ledger: &Path) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for l in common::ledger::read(ledger) {
        if l["kind"] == "weights_set" {
            let block = l["block"].as_u64().unwrap();
            *out.entry(common::epoch_of(NETUID, TEMPO, block))
                .or_default() += 1;
        }
    }
    out
}

async fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    // Not listening yet: no value.
    TcpStream::connect(addr).await.ok()?;
    let (status, body) = common::http_get(addr, "/metrics").await;
    if status != 200 {
        return None;
    }
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// The ingest cursor; 0 before the first block (or the schema) is there.
async fn cursor(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT block_number FROM ingest_cursor WHERE netuid = $1")
        .bind(i32::from(NETUID))
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

struct Daemon(Option<Child>);

impl Daemon {
    fn start((file, config): &(PathBuf, Config)) -> Daemon {
        Daemon(Some(common::daemon::spawn(file, config)))
    }

    /// With the descriptor limit lowered to `nofile` (soft and hard).
    fn start_limited((file, config): &(PathBuf, Config), nofile: u64) -> Daemon {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(BIN);
        c.args(["--config", file.to_str().unwrap(), "run"])
            .env_remove("RUST_LOG")
            .env("TENURE__HTTP__API_TOKEN", config.http.api_token.expose())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
        unsafe {
            c.pre_exec(move || {
                let l = libc::rlimit {
                    rlim_cur: nofile,
                    rlim_max: nofile,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Daemon(Some(c.spawn().unwrap()))
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            common::sigterm(&c);
            let status = common::wait_exit(&mut c, 30).await;
            assert!(status.success(), "exit {status}");
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Bug 1: after a restart with history to catch up, a plan made for a past epoch landed inside
/// the chain's current epoch beside that epoch's own submission. Now weights follow the chain's
/// head: back-filling 300 blocks sends nothing for the past, and afterwards every epoch gets one
/// set. An epoch the daemon sat out is recorded `missed` with its reason, never sent late.
#[sqlx::test]
async fn one_set_per_epoch_after_a_catch_up_and_missed_epochs_are_recorded(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let net = net(DevnetArgs {
        block_ms: 100,
        miners: 12,
        validators: 2,
        rate_limit: 3,
        min_allowed_weights: 4,
        activity: 10,
        ..DevnetArgs::default()
    })
    .await;
    // History to catch up: 300 blocks before the daemon starts.
    until_block(&net.devnet, 300).await;
    let (_, config) = daemon_on_free_port(&net, &pool, |c| {
        c.scores.source = ScoresSource::Uniform;
    });
    let mut d = Daemon::start(&config);
    let first = wait_epochs(&net, &pool, 4).await;
    // Stopped for two whole epochs, then started again.
    d.stop().await;
    let stopped_at = finalized(&net.devnet);
    while finalized(&net.devnet) < stopped_at + 2 * (u64::from(TEMPO) + 1) + 5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut d = Daemon::start(&config);
    let last = wait_epochs(&net, &pool, 3).await;
    d.stop().await;

    let sets = sets_per_epoch(&net.ledger);
    assert!(
        sets.values().all(|n| *n == 1),
        "an epoch with two sets: {sets:?}"
    );
    // Nothing was sent for the back-filled past.
    let first_set = *sets.keys().next().expect("weights were set");
    assert!(
        first_set >= common::epoch_of(NETUID, TEMPO, 300),
        "a set for the past: {sets:?}"
    );
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT epoch_index, status, error FROM weight_submissions ORDER BY epoch_index",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let missed: Vec<&(i64, String, Option<String>)> =
        rows.iter().filter(|r| r.1 == "missed").collect();
    assert!(
        !missed.is_empty(),
        "the two epochs the daemon sat out are recorded: {rows:?}"
    );
    assert!(
        missed
            .iter()
            .all(|r| r.2.as_deref().is_some_and(|e| !e.is_empty())),
        "{rows:?}"
    );
    // Every epoch from the first submission to the last has a row: finalized or missed.
    let (lo, hi) = (rows[0].0, rows[rows.len() - 1].0);
    assert_eq!(
        rows.len() as i64,
        hi - lo + 1,
        "a gap in the epochs: {rows:?}"
    );
    for r in &rows {
        assert!(r.1 == "finalized" || r.1 == "missed" || r.0 == hi, "{r:?}");
        if r.1 == "finalized" {
            assert_eq!(
                sets.get(&(r.0 as u64)),
                Some(&1),
                "finalized epoch {} without one set on chain: {sets:?}",
                r.0
            );
        }
    }
    let _ = (first, last);
    net.devnet.stop().await;
}

/// Waits until `n` more epochs have a finalized submission; returns the last epoch seen.
async fn wait_epochs(net: &Net, pool: &PgPool, n: usize) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    let start: i64 =
        sqlx::query_scalar("SELECT count(*) FROM weight_submissions WHERE status = 'finalized'")
            .fetch_one(pool)
            .await
            .unwrap_or(0);
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM weight_submissions WHERE status = 'finalized'",
        )
        .fetch_one(pool)
        .await
        .unwrap_or(0);
        if done >= start + n as i64 {
            return sqlx::query_scalar("SELECT max(epoch_index) FROM weight_submissions")
                .fetch_one(pool)
                .await
                .unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{n} epochs were not submitted within 120 s (cursor {}, head {})",
            cursor(pool).await,
            finalized(&net.devnet)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// F3 end to end: a base score beyond the bound (1e300, written straight into the
/// `table` source) fails the weights step; twice in a row fails `/readyz` with the reason, and
/// `tenure_weights_step_failures` says how many.
#[sqlx::test]
async fn a_weights_step_failing_twice_fails_readiness(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let net = net(DevnetArgs {
        block_ms: 50,
        miners: 6,
        validators: 1,
        min_allowed_weights: 2,
        ..DevnetArgs::default()
    })
    .await;
    let (addr, config) = daemon_on_free_port(&net, &pool, |c| {
        c.scores.source = ScoresSource::Table;
        c.scores.max_age_blocks = 100_000;
    });
    let _d = Daemon::start(&config);
    wait_cursor(&pool, 5).await;
    sqlx::query(
        "INSERT INTO base_scores (netuid, hotkey, score, block, source)
         SELECT netuid, hotkey, CASE WHEN uid = 2 THEN 1e300 ELSE 1.0 END, 1, 'table' FROM miners",
    )
    .execute(&pool)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = common::http_get(addr, "/readyz").await;
        if status == 503 && body.contains("times in a row") {
            assert!(
                body.contains("scores must be finite"),
                "the reason names the bad score: {body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(metric(addr, "tenure_weights_step_failures").await.unwrap() >= 2.0);
    let sets = sets_per_epoch(&net.ledger);
    assert!(
        sets.is_empty(),
        "weights were set from an infinite score: {sets:?}"
    );
    net.devnet.stop().await;
}

/// F1 with the daemon: a thousand idle connections to each listener, with the daemon's
/// descriptor limit lowered so that unbounded listeners would exhaust it, change nothing for
/// the probes (every always-up miner stays up, no probe is unknown), ingestion or weights.
#[sqlx::test]
async fn a_thousand_idle_connections_per_listener_leave_the_daemons_work_alone(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let net = net(DevnetArgs {
        block_ms: 100,
        miners: 8,
        validators: 1,
        axons: true,
        axon_profiles: vec![tenure_devnet::axons::Profile::Up],
        min_allowed_weights: 2,
        rate_limit: 3,
        ..DevnetArgs::default()
    })
    .await;
    let (port, web_port) = (common::free_port(), common::free_port());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let web: SocketAddr = format!("127.0.0.1:{web_port}").parse().unwrap();
    let config = daemon_config(&net, &common::url_of(&pool), port, "a", |c| {
        c.web.listen = Some(web);
        c.scores.source = ScoresSource::Uniform;
        c.uptime.sources = vec![UptimeSource::Probe];
        c.uptime.probe_interval_blocks = 5;
        c.uptime.probe.concurrency = 64;
    });
    // 2 listeners × 256 + 64 probes + 10 database + 64 reserved = 650 fit in 700; two thousand
    // unbounded idle connections would not.
    let mut d = Daemon::start_limited(&config, 700);
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(addr, "tenure_uptime_miners_up").await.unwrap_or(0.0) < 8.0 {
        assert!(
            Instant::now() < deadline,
            "no probe round with every miner up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rounds_before: i64 = sqlx::query_scalar("SELECT count(*) FROM uptime_rounds")
        .fetch_one(&pool)
        .await
        .unwrap();
    let cursor_before = cursor(&pool).await;

    // A thousand idle connections to each listener, from 40 client addresses.
    let mut idle = Vec::new();
    for target in [addr, web] {
        for i in 0..1000u32 {
            let source = IpAddr::from([127, 0, 1, (i % 40) as u8 + 1]);
            if let Ok(s) = connect_from(source, target).await {
                idle.push(s);
            }
        }
    }
    // Through several probe rounds and an epoch or two.
    tokio::time::sleep(Duration::from_secs(6)).await;

    let rounds: Vec<(i64, i32, i32)> = sqlx::query_as(
        "SELECT block, miners, up FROM uptime_rounds WHERE source = 'probe' ORDER BY block",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        rounds.len() as i64 >= rounds_before + 6,
        "probe rounds stopped: {rounds:?}"
    );
    assert!(
        rounds.iter().all(|(_, m, u)| m == u && *m >= 8),
        "a miner was recorded down (or unknown): {rounds:?}"
    );
    assert!(
        cursor(&pool).await >= cursor_before + 40,
        "ingestion slowed down"
    );
    // The caps held: at most 256 connections per listener stayed open, the rest were closed
    // at once.
    let open = idle
        .iter()
        .filter(|s| {
            let mut buf = [0u8; 1];
            matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert!(
        open <= 2 * 256,
        "{open} of {} connections stayed open",
        idle.len()
    );
    assert!(
        idle.len() - open >= 1000,
        "only {} connections were refused",
        idle.len() - open
    );
    let sets = sets_per_epoch(&net.ledger);
    let head_epoch = common::epoch_of(NETUID, TEMPO, finalized(&net.devnet));
    assert!(
        sets.keys().any(|e| *e + 1 >= head_epoch),
        "weights stopped: {sets:?} at epoch {head_epoch}"
    );
    // F2: SIGTERM with the idle connections still open ends promptly with exit 0.
    let stopping = Instant::now();
    d.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    drop(idle);
    let unknown: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM uptime_samples s JOIN uptime_rounds r ON r.id = s.round_id
          WHERE r.source = 'probe' AND NOT s.up",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unknown, 0, "a probe sample recorded a miner down");
    net.devnet.stop().await;
}

/// Ingestion (`ingest::run`, in-process) of `devnet` from block 0 into `db`, with its client
/// (shared with the caller) and a token that stops it.
fn spawn_ingest(
    devnet: &Devnet,
    db: &PgPool,
) -> (
    Arc<tenure::chain::client::ChainClient>,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let mut cfg = tenure::config::Config::default();
    cfg.chain.endpoints = vec![devnet.url()];
    cfg.chain.netuid = NETUID;
    cfg.ingest.start_block = Some(0);
    cfg.uptime.sources = vec![tenure::config::UptimeSource::Api];
    let settings = tenure::ingest::Settings::from_config(&cfg);
    assert_eq!(settings.pipeline_depth, 64, "the default depth");
    let client = Arc::new(tenure::chain::client::ChainClient::new(
        tenure::chain::client::Settings::from_config(&cfg.chain),
    ));
    let metrics = Arc::new(tenure::metrics::Metrics::new(NETUID));
    let health = Arc::new(tenure::health::Health::new(metrics.clone()));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(tenure::ingest::run(
        client.clone(),
        db.clone(),
        settings,
        metrics,
        health,
        cancel.clone(),
    ));
    (client, cancel, task)
}

/// The back-fill deadlock, end to end: ten back-fills from block 0 with the default pipeline
/// depth, each into a fresh database, with another task hammering the same chain client (as
/// the weights task does) to contend for the connection. Before the fix, about half of them
/// stopped for good.
#[sqlx::test]
async fn ten_back_fills_from_block_zero_never_hang(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let net = net(DevnetArgs {
        block_ms: 100,
        miners: 16,
        validators: 1,
        activity: 20,
        ..DevnetArgs::default()
    })
    .await;
    until_block(&net.devnet, 200).await;
    let base = common::database_url();
    for run in 0..10 {
        let db = tenure::db::scratch(&base, &format!("tenure_backfill_{run}"))
            .await
            .unwrap();
        let (client, cancel, ingest) = spawn_ingest(&net.devnet, &db);
        let noise = {
            let (client, cancel) = (client.clone(), cancel.clone());
            tokio::spawn(async move {
                while !cancel.is_cancelled() {
                    if let Ok(h) = client.finalized_head().await {
                        let _ = client.hyperparams(h, NETUID).await;
                    }
                }
            })
        };
        let target = finalized(&net.devnet);
        let started = Instant::now();
        loop {
            let at = cursor(&db).await as u64;
            if at >= target {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "back-fill {run} stopped at block {at} (target {target})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(20), ingest)
            .await
            .expect("ingestion stops")
            .unwrap()
            .unwrap();
        noise.await.unwrap();
        db.close().await;
    }
    let _ = pool;
    net.devnet.stop().await;
}

/// A PostgreSQL cluster of the test's own (scripts/dev-db.sh in a scratch directory, on a free
/// port), so that restarting it disturbs no other test.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn script(&self, arg: &str) -> std::process::Output {
        Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/dev-db.sh"))
            .arg(arg)
            .env("TENURE_PG_DIR", self.dir.path())
            .env("TENURE_PG_PORT", self.port.to_string())
            .env("TENURE_PG_DB", "chaos")
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/dev-db.sh")
    }

    fn start(&self) {
        let out = self.script("start");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        let out = self.script("stop");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/chaos", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("stop");
    }
}

/// Tables ingestion writes, projected onto natural keys (serial ids, which a rolled-back insert
/// may consume, become the miner's hotkey@registration and the tranche's own key; timings and
/// write times are dropped), one JSON text per row, sorted.
async fn ingested_tables(pool: &PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for table in [
        "blocks",
        "epochs",
        "miners",
        "validator_permits",
        "hotkey_owners",
        "coldkey_swaps",
        "hotkey_swaps",
        "stake_changes",
        "emissions",
        "vesting_tranches",
        "tranche_outflows",
        "vesting_multipliers",
        "vesting_epochs",
        "uptime_multipliers",
        "uptime_epochs",
        "ingest_cursor",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT r::text FROM (
               SELECT (to_jsonb(t) - ARRAY['id', 'miner_id', 'tranche_id', 'ingested_at', 'updated_at',
                                           'compute_ms', 'seconds', 'ms'])
                      || jsonb_build_object(
                           'miner', (SELECT m.hotkey || '@' || m.registered_at_block FROM miners m
                                      WHERE m.id = (to_jsonb(t) ->> 'miner_id')::bigint),
                           'tranche', (SELECT v.coldkey || '/' || v.hotkey || '/' || v.kind || '@' || v.block
                                              || ':' || v.initial_rao FROM vesting_tranches v
                                        WHERE v.id = (to_jsonb(t) ->> 'tranche_id')::bigint)) AS r
                 FROM {table} t) x ORDER BY 1"
        )))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
        out.insert(table, rows);
    }
    out
}

/// What happened to the daemon and when, in the chain's blocks.
#[derive(Debug, Default)]
struct Faults {
    kills: usize,
    kills_after_plan: usize,
    db_restarts: usize,
    /// [from, to] block ranges during which something was down, plus a recovery margin.
    windows: Vec<(u64, u64)>,
}

/// Fault injection over ≥ 20 epochs (`TENURE_CHAOS_EPOCHS` for a longer run): the daemon is
/// SIGKILLed at random moments, some right after it planned weights; its PostgreSQL is
/// restarted under it twice; the node drops every connection every 97 blocks, refuses
/// connections for 3 s once and stalls its finalized stream once. Afterwards: no epoch with two
/// weight sets in the devnet's own ledger, a set in every epoch whose submission window saw no
/// fault, no hang, and every ingested table equal to a fault-free back-fill of the same chain.
#[sqlx::test]
async fn chaos_one_set_per_epoch_no_hang_and_tables_equal_a_clean_back_fill(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let epochs: u64 = std::env::var("TENURE_CHAOS_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(22);
    let period = u64::from(TEMPO) + 1;
    let halt = epochs * period + 30;
    let net = net(DevnetArgs {
        block_ms: 200,
        miners: 12,
        validators: 2,
        rate_limit: 3,
        min_allowed_weights: 4,
        activity: 10,
        // Node faults early in a three-epoch cycle (see `cycle` below).
        drop_every: 126,
        refuse_at: 250,
        refuse_ms: 3000,
        stall_at: 376,
        stall_blocks: 15,
        halt_at: halt,
        ..DevnetArgs::default()
    })
    .await;
    let cluster = Cluster {
        dir: tempfile::tempdir().unwrap(),
        port: common::free_port(),
    };
    cluster.start();
    let port = common::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = daemon_config(&net, &cluster.url(), port, "chaos", |c| {
        c.scores.source = ScoresSource::Uniform;
        c.weights.lead_blocks = 10;
        // Seconds, not minutes, to notice a stalled stream or a dead database.
        c.chain.stall_timeout_secs = 2;
        c.chain.rpc_timeout_secs = 5;
        c.database.connect_timeout_secs = 2;
        c.database.startup_retry_secs = 30;
    });

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo + 1)
    };
    let mut faults = Faults::default();
    // Blocks after a fault before the daemon must be submitting again.
    let recovery = 25;
    // Faults strike only in the first 25 blocks of each three-epoch cycle, so that every third
    // epoch's submission window (its last 10 blocks) is quiet and must get its weights.
    let cycle = |block: u64| (block + u64::from(NETUID) + 1) % (3 * period);
    faults.windows.push((250, 250 + 15 + recovery));
    faults.windows.push((376, 376 + 15 + recovery));
    for k in (126..halt).step_by(126) {
        faults.windows.push((k, k + recovery));
    }

    let mut db = PgPool::connect(&cluster.url()).await.unwrap();
    let mut daemon = Daemon::start(&config);
    let started = Instant::now();
    let mut next_kill = Instant::now() + Duration::from_secs(rand(1, 3));
    let mut restarts = vec![2 * halt / 3, halt / 3];
    let mut moved = (0i64, Instant::now());
    let mut newest_plan: i64 = 0;
    loop {
        let head = finalized(&net.devnet);
        let c = cursor(&db).await;
        if c != moved.0 {
            moved = (c, Instant::now());
        }
        if c as u64 >= halt {
            break;
        }
        if moved.1.elapsed() > Duration::from_secs(20) {
            let (status, body) = if TcpStream::connect(addr).await.is_ok() {
                common::http_get(addr, "/readyz").await
            } else {
                (0, "not listening".into())
            };
            panic!(
                "the cursor stuck at {c} for 20 s (head {head}; {faults:?}): /readyz {status} {body}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60 + halt / 3),
            "the run took too long ({faults:?})"
        );
        let plan: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(id), 0) FROM weight_submissions WHERE status <> 'missed'",
        )
        .fetch_one(&db)
        .await
        .unwrap_or(newest_plan);
        let eligible = cycle(head) < 25;
        let after_plan =
            eligible && plan > newest_plan && faults.kills_after_plan < 4 && rand(0, 1) == 0;
        newest_plan = newest_plan.max(plan);
        if after_plan || (eligible && Instant::now() >= next_kill) {
            let at = finalized(&net.devnet);
            daemon.kill();
            faults.kills += 1;
            faults.kills_after_plan += usize::from(after_plan);
            tokio::time::sleep(Duration::from_millis(rand(100, 800))).await;
            daemon = Daemon::start(&config);
            faults.windows.push((at, finalized(&net.devnet) + recovery));
            next_kill = Instant::now() + Duration::from_secs(rand(2, 4));
        }
        if restarts.last().is_some_and(|b| head >= *b) && cycle(head) < 15 {
            restarts.pop();
            let at = finalized(&net.devnet);
            db.close().await;
            cluster.stop();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cluster.start();
            faults.db_restarts += 1;
            db = PgPool::connect(&cluster.url()).await.unwrap();
            faults.windows.push((at, finalized(&net.devnet) + recovery));
            moved.1 = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.stop().await;
    eprintln!(
        "chaos: {epochs} epochs, {} s, {faults:?}",
        started.elapsed().as_secs()
    );

    // One set per epoch, and one in every epoch whose submission window saw no fault.
    let sets = sets_per_epoch(&net.ledger);
    assert!(
        sets.values().all(|n| *n == 1),
        "an epoch with two sets: {sets:?}"
    );
    let lead = 10;
    let first = common::epoch_of(NETUID, TEMPO, 40);
    let last = common::epoch_of(NETUID, TEMPO, halt) - 1;
    let mut clean = Vec::new();
    for e in first..last {
        // Epoch e runs from its epoch block to the next one; the window is its last `lead` blocks.
        let next = (e + 1) * period - u64::from(NETUID) - 1;
        let window = (next - lead, next);
        if faults
            .windows
            .iter()
            .all(|(a, b)| *b < window.0 || *a >= window.1)
        {
            clean.push(e);
        }
    }
    eprintln!(
        "chaos: {} epochs with a set, {} clean epochs, {} double sets",
        sets.len(),
        clean.len(),
        sets.values().filter(|n| **n > 1).count()
    );
    assert!(
        clean.len() >= 2,
        "too few epochs without a fault to judge: {clean:?} ({faults:?})"
    );
    let missed: Vec<u64> = clean
        .iter()
        .copied()
        .filter(|e| !sets.contains_key(e))
        .collect();
    assert!(
        missed.is_empty(),
        "epochs without a fault in their window but without weights: {missed:?} (clean {clean:?}, sets {sets:?}, {faults:?})"
    );
    assert!(faults.kills >= epochs as usize / 5, "{faults:?}");
    assert_eq!(faults.db_restarts, 2);

    // Every ingested table equals a fault-free back-fill of the same (halted) chain.
    let (_, cancel, clean_run) = spawn_ingest(&net.devnet, &pool);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (cursor(&pool).await as u64) < halt {
        assert!(
            Instant::now() < deadline,
            "the clean back-fill did not reach {halt}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cancel.cancel();
    clean_run.await.unwrap().unwrap();
    let (chaotic, reference) = (ingested_tables(&db).await, ingested_tables(&pool).await);
    for (table, rows) in &reference {
        let other = &chaotic[table];
        assert!(
            other == rows,
            "{table} differs: {} rows after faults, {} in the clean back-fill; first difference: {:?}",
            other.len(),
            rows.len(),
            other.iter().zip(rows).find(|(a, b)| a != b)
        );
    }
    assert!(reference["stake_changes"].len() > 10 && reference["emissions"].len() > 10);
    net.devnet.stop().await;
}

/// Fuzzing the configuration parser: any text, and TOML built from real keys with arbitrary
/// values, gives a configuration or an error naming the file — never a panic.
#[test]
fn fuzz_the_config_parser() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as Cases, TestRunner};
    let file = Path::new("/etc/tenure/fuzz.toml");
    let keys = [
        "[chain]\nnetuid",
        "[chain]\nendpoints",
        "[http]\nlisten",
        "[http]\nmax_connections",
        "[database]\nurl",
        "[vesting]\nmax_multiplier",
        "[vesting]\namount_tiers",
        "[uptime]\nsources",
        "[uptime.probe]\ntimeout_ms",
        "[weights]\nexempt_uids",
        "[weights.penalty]\nenabled",
        "[daemon]\nprogress_timeout_secs",
    ];
    let values = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        "\\PC{0,40}".prop_map(|s| format!("{s:?}")),
        Just("[1, 2, 3]".to_string()),
        Just("[{ min = 0.5, value = 1.2 }]".to_string()),
        Just("\"0.0.0.0:0\"".to_string()),
        Just("true".to_string()),
    ];
    let mut runner = TestRunner::new(Cases {
        cases: 400,
        ..Cases::default()
    });
    let doc = (proptest::sample::select(keys.to_vec()), values);
    runner
        .run(&doc, |(key, value)| {
            let text = format!("{key} = {value}\n");
            if let Err(e) = tenure::config::Config::parse(file, &text, &[]) {
                prop_assert!(e.to_string().contains("fuzz.toml"), "{e}");
            }
            Ok(())
        })
        .unwrap();
    runner
        .run(&"\\PC{0,300}", |text| {
            if let Err(e) = tenure::config::Config::parse(file, &text, &[]) {
                prop_assert!(e.to_string().contains("fuzz.toml"), "{e}");
            }
            Ok(())
        })
        .unwrap();
}

/// Fuzzing the request bodies over real TCP: arbitrary bytes and JSON built from the real
/// fields with arbitrary values, to every write endpoint with a valid token. Every answer is a
/// 2xx or a 4xx with a reason (never a 5xx, never a dropped connection), and a body with a
/// control character stores nothing.
#[sqlx::test]
async fn fuzz_the_request_bodies(pool: PgPool) {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    sqlx::query(
        "INSERT INTO ingest_cursor (netuid, block_number, block_hash, first_block) VALUES (1, 100, decode(repeat('00', 32), 'hex'), 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let addr = api(pool.clone()).await;
    let fields = [
        "scores",
        "observations",
        "hotkey",
        "up",
        "block",
        "timestamp",
        "reason",
        "days",
        "expires_at",
        "bonus",
        "mode",
        "actor",
    ];
    let scalar = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        "\\PC{0,20}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        "[\\x00-\\x7f]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("{\"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\": 1e400}".to_string()),
    ];
    let object =
        proptest::collection::vec((proptest::sample::select(fields.to_vec()), scalar), 0..4)
            .prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            });
    let bytes = proptest::collection::vec(any::<u8>(), 0..200)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    let body = prop_oneof![object, bytes];
    let endpoints = [
        ("POST", "/v1/scores"),
        ("POST", "/v1/uptime"),
        ("POST", "/v1/uptime/grants"),
        ("PUT", "/v1/vesting/mode"),
        ("PUT", "/v1/uptime/mode"),
    ];
    let mut runner = TestRunner::deterministic();
    for i in 0..300 {
        let text = body.new_tree(&mut runner).unwrap().current();
        let (method, path) = endpoints[i % endpoints.len()];
        let (status, answer) = write(addr, method, path, &text).await;
        assert!(
            (200..500).contains(&status) && (status < 300 || answer.contains("error")),
            "{method} {path} {text:?} -> {status} {answer}"
        );
    }
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM grants WHERE reason ~ '[[:cntrl:]]')
              + (SELECT count(*) FROM settings_audit WHERE reason ~ '[[:cntrl:]]')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 0, "a control character was stored");
}

/// Never silent: a block loop wedged on a database lock (held by this test) fails `/readyz`'s
/// `ingest-progress` check within `daemon.progress_timeout_secs`, naming what it waits on, and
/// sets `tenure_task_stalled{task="ingest"}`; released, both clear.
#[sqlx::test]
async fn a_stalled_task_fails_readiness_with_what_it_waits_on(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let net = net(DevnetArgs {
        block_ms: 100,
        miners: 4,
        validators: 1,
        ..DevnetArgs::default()
    })
    .await;
    let (addr, config) = daemon_on_free_port(&net, &pool, |c| {
        c.scores.source = ScoresSource::Uniform;
        c.daemon.progress_timeout_secs = 2;
    });
    let mut d = Daemon::start(&config);
    wait_cursor(&pool, 5).await;
    let stalled = |body: &str| body.contains("tenure_task_stalled{task=\"ingest\"} 1");
    let (_, body) = common::http_get(addr, "/metrics").await;
    assert!(!stalled(&body), "stalled before the wedge");

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT * FROM ingest_cursor FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = common::http_get(addr, "/readyz").await;
        if status == 503 && body.contains("ingest-progress") && body.contains("no progress") {
            assert!(
                body.contains("writer: the database writing block"),
                "{body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness did not say the loop is stuck: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, body) = common::http_get(addr, "/metrics").await;
    assert!(stalled(&body), "{body}");

    tx.rollback().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = common::http_get(addr, "/metrics").await;
        let (_, ready) = common::http_get(addr, "/readyz").await;
        if !stalled(&body) && ready.contains("\"ingest-progress\":{\"ok\":true}") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still stalled after the lock was released: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    d.stop().await;
    net.devnet.stop().await;
}
