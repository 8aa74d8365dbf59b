//! Pruned nodes, end to end. The devnet prunes state older than `WINDOW` blocks on its main
//! endpoint (the node's own "State already discarded" text) and serves the same chain without
//! pruning on a second port (an archive). Three daemons (the real binary) follow it:
//!
//! - R, the reference, reads only the archive and is never stopped;
//! - A (`chain.archive_endpoints` = the archive) is stopped for 3 × `WINDOW` blocks; at its
//!   restart it back-fills through the archive, and its tables equal R's;
//! - C (no archive) is stopped likewise; at its restart `/readyz` names the first block it
//!   cannot read and the choices, and nothing is written; `tenure ingest reanchor` records the
//!   gap, C runs on from the head, and nothing inside the gap is counted, nothing twice: what C
//!   recorded after the gap equals R's, and every book holds what the chain says is held.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sqlx::PgPool;
use tenure::config::Config;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;
use crate::ingest::{cursor, dump, wait_for_cursor};

/// State kept by the pruning endpoint, in blocks below its best block.
const WINDOW: u64 = 24;
const HALT: u64 = 190;
const BIN: &str = env!("CARGO_BIN_EXE_tenure");

fn config(chain: &str, db: &str) -> Config {
    let mut c = common::daemon::config(chain, db, 1);
    c.http.enabled = false;
    c.weights.enabled = false;
    c
}

/// A daemon killed when the test ends early (a failed assertion), not left running.
struct Daemon(Option<std::process::Child>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn((file, c): &(PathBuf, Config)) -> Daemon {
    Daemon(Some(common::daemon::spawn(file, c)))
}

async fn stop(mut d: Daemon) {
    let mut child = d.0.take().unwrap();
    common::sigterm(&child);
    common::wait_exit(&mut child, 30).await;
}

/// Runs the CLI without blocking the runtime (the devnet serves from it).
async fn cli(config: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", config.to_str().unwrap()])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn scalar(pool: &PgPool, q: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(q.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until the devnet's best block reaches `b`.
async fn best_at_least(devnet: &Devnet, b: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while devnet.node.chain().best() < b {
        assert!(Instant::now() < deadline, "the devnet did not reach {b}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The devnet's own answer to a storage read at block `n` through `url`.
async fn read_at(url: &str, devnet: &Devnet, n: u64) -> Result<Json, String> {
    let hash = devnet.node.chain().blocks[n as usize].hash;
    let rpc = subxt::rpcs::RpcClient::from_url(url).await.unwrap();
    // Timestamp.Now: twox128("Timestamp") ++ twox128("Now").
    let key = "0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb";
    rpc.request::<Json>(
        "state_getStorage",
        subxt::rpcs::rpc_params![key, format!("{hash:?}")],
    )
    .await
    .map_err(|e| e.to_string())
}

/// (coldkey, hotkey) → alpha held at the last change, from `stake_changes`.
async fn holdings(pool: &PgPool) -> BTreeMap<(String, String), i64> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (coldkey, hotkey) coldkey, hotkey, alpha_rao FROM stake_changes
          ORDER BY coldkey, hotkey, block DESC",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(c, h, a)| ((c, h), a)).collect()
}

/// Emissions from `from` on, as rows.
async fn emissions_from(pool: &PgPool, from: i64) -> Vec<(i64, i32, String, String, i64)> {
    sqlx::query_as(
        "SELECT epoch_block, uid, hotkey, coldkey, amount_rao FROM emissions
          WHERE epoch_block >= $1 ORDER BY 1, 2",
    )
    .bind(from)
    .fetch_all(pool)
    .await
    .unwrap()
}

struct Daemons {
    dir: tempfile::TempDir,
    a: (PathBuf, Config),
    c: (PathBuf, Config),
    c_addr: SocketAddr,
}

fn daemons(devnet: &Devnet, a_db: &str, c_db: &str) -> Daemons {
    let dir = tempfile::tempdir().unwrap();
    let mut a = config(&devnet.url(), a_db);
    a.chain.archive_endpoints = vec![devnet.archive_url().unwrap()];
    let mut c = config(&devnet.url(), c_db);
    // C starts at the head (its snapshot), the only state a pruning node has.
    c.ingest.start_block = None;
    let port = common::free_port();
    c.http.enabled = true;
    common::daemon::http(&mut c, port, None);
    Daemons {
        a: (common::daemon::write(dir.path(), "a", &a), a),
        c: (common::daemon::write(dir.path(), "c", &c), c),
        c_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        dir,
    }
}

/// C's ingest check while it fails; asserts nothing is written meanwhile.
async fn pruned_readiness(c_pool: &PgPool, addr: SocketAddr, stopped_at: i64) -> String {
    let blocks = scalar(c_pool, "SELECT count(*) FROM blocks").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let reason = loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let (_, body) = common::http_get(addr, "/readyz").await;
            let check = &serde_json::from_str::<Json>(&body).unwrap()["checks"]["ingest"];
            let reason = check["reason"].as_str().unwrap_or_default().to_string();
            if reason.contains("cannot read block") {
                break reason;
            }
        }
        assert!(Instant::now() < deadline, "/readyz never said why");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A few more retries: still nothing written.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(cursor(c_pool).await, Some(stopped_at));
    assert_eq!(scalar(c_pool, "SELECT count(*) FROM blocks").await, blocks);
    let (_, metrics) = common::http_get(addr, "/metrics").await;
    let gauge = format!("tenure_ingest_state_pruned_block {}\n", stopped_at + 1);
    assert!(metrics.contains(&gauge), "{gauge}: {metrics}");
    reason
}

#[sqlx::test(migrations = false)]
async fn pruned_nodes_back_fill_from_an_archive_or_reanchor_with_a_recorded_gap(pool: PgPool) {
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 100,
        seed: 41,
        netuid: 1,
        miners: 8,
        validators: 2,
        tempo: 9,
        activity: 25,
        halt_at: HALT,
        state_pruning: Some(WINDOW),
        archive_port: Some(0),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let archive = devnet.archive_url().unwrap();
    let (r_pool, r_url) = common::database(&pool, "reference").await;
    let (c_pool, c_url) = common::database(&pool, "reanchored").await;
    let d = daemons(&devnet, &common::url_of(&pool), &c_url);
    let r_cfg = config(&archive, &r_url);
    let r = spawn(&(common::daemon::write(d.dir.path(), "r", &r_cfg), r_cfg));
    let a = spawn(&d.a);
    let c = spawn(&d.c);

    // Both follow the head for a while, then stop for three pruning windows.
    let deadline = Instant::now() + Duration::from_secs(60);
    while cursor(&pool).await.unwrap_or(0) < 30 || cursor(&c_pool).await.unwrap_or(0) < 30 {
        assert!(
            Instant::now() < deadline,
            "the daemons do not follow the devnet"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(a).await;
    stop(c).await;
    let (ka, kc) = (cursor(&pool).await.unwrap(), cursor(&c_pool).await.unwrap());
    best_at_least(&devnet, ka.max(kc) as u64 + 3 * WINDOW + 2).await;
    // The pruning endpoint refuses the state after the cursors (the node's own text); the
    // archive serves it.
    let refused = read_at(&devnet.url(), &devnet, ka as u64 + 1)
        .await
        .unwrap_err();
    assert!(refused.contains("State already discarded"), "{refused}");
    assert!(read_at(&archive, &devnet, ka as u64 + 1).await.is_ok());

    // A back-fills through the archive and ends equal to the reference.
    let a = spawn(&d.a);
    // C cannot: /readyz says which block and what to do, and nothing is written.
    let c = spawn(&d.c);
    let reason = pruned_readiness(&c_pool, d.c_addr, kc).await;
    assert!(
        reason.contains(&format!("cannot read block {}", kc + 1)),
        "{reason}"
    );
    assert!(
        reason.contains("chain.archive_endpoints") && reason.contains("tenure ingest reanchor"),
        "{reason}"
    );

    // Reanchor (the daemon keeps running and picks the new cursor up).
    let (ok, out) = cli(
        &d.c.0,
        &[
            "ingest",
            "reanchor",
            "--reason",
            "node pruned during maintenance",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let gap: (i64, i64, String, String) =
        sqlx::query_as("SELECT from_block, to_block, actor, reason FROM ingest_gaps")
            .fetch_one(&c_pool)
            .await
            .unwrap();
    let anchor = gap.1 + 1;
    assert_eq!(gap.0, kc + 1);
    assert!(anchor as u64 >= kc as u64 + 3 * WINDOW, "{gap:?}");
    assert!(gap.2.starts_with("cli:") && gap.3 == "node pruned during maintenance");
    assert!(
        out.contains(&format!(
            "blocks {}..={} are recorded as a gap",
            gap.0, gap.1
        )),
        "{out}"
    );
    // A second reanchor has nothing to skip once the daemon follows again.
    wait_for_cursor(&pool, HALT, Duration::from_secs(120)).await;
    wait_for_cursor(&c_pool, HALT, Duration::from_secs(120)).await;
    wait_for_cursor(&r_pool, HALT, Duration::from_secs(120)).await;
    let (ok, again) = cli(&d.c.0, &["ingest", "reanchor", "--reason", "again"]).await;
    assert!(!ok && again.contains("nothing to skip"), "{again}");

    // What the API, the page and the CLI say of the gap.
    let (status, body) = common::http_get(d.c_addr, "/v1/ingest/gaps").await;
    assert_eq!(status, 200, "{body}");
    let gaps: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(gaps[0]["from_block"], gap.0);
    assert_eq!(gaps[0]["anchor_block"], anchor);
    let (_, page) = common::http_get(d.c_addr, "/status").await;
    assert!(
        page.contains(&format!("blocks {}–{}", gap.0, gap.1)),
        "{page}"
    );
    let (ok, listed) = cli(&d.c.0, &["ingest", "gaps"]).await;
    assert!(
        ok && listed.contains(&format!("blocks {}..={} skipped", gap.0, gap.1)),
        "{listed}"
    );
    stop(a).await;
    stop(c).await;
    stop(r).await;

    // A back-filled everything through the archive: its tables equal the reference's.
    let (got, want) = (dump(&pool).await, dump(&r_pool).await);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }

    // C: nothing inside the gap, every other block once, and after it the same as the reference.
    let inside = format!(
        "SELECT count(*) FROM blocks WHERE number BETWEEN {} AND {}",
        gap.0, gap.1
    );
    assert_eq!(scalar(&c_pool, &inside).await, 0);
    let first = scalar(&c_pool, "SELECT first_block FROM ingest_cursor").await;
    assert_eq!(
        scalar(&c_pool, "SELECT count(*) FROM blocks").await,
        (kc - first + 1) + (HALT as i64 - anchor + 1)
    );
    let after = emissions_from(&c_pool, anchor).await;
    assert!(!after.is_empty(), "epochs ran after the gap");
    assert_eq!(after, emissions_from(&r_pool, anchor).await);
    let inside = format!(
        "SELECT count(*) FROM emissions WHERE epoch_block BETWEEN {} AND {}",
        gap.0, gap.1
    );
    assert_eq!(scalar(&c_pool, &inside).await, 0);

    // The stake C holds on record is what the chain holds (the reference saw every change),
    // and every book holds exactly that: what the gap brought became manual tranches at the
    // anchor, what left consumed the newest.
    let (held, truth) = (holdings(&c_pool).await, holdings(&r_pool).await);
    for (pair, alpha) in &held {
        assert_eq!(truth.get(pair).copied().unwrap_or(0), *alpha, "{pair:?}");
    }
    let books: Vec<(String, i64)> = sqlx::query_as(
        "SELECT coldkey, sum(remaining_rao)::bigint FROM vesting_tranches GROUP BY 1",
    )
    .fetch_all(&c_pool)
    .await
    .unwrap();
    let mut by_coldkey: BTreeMap<String, i64> = BTreeMap::new();
    for ((c, _), a) in &held {
        *by_coldkey.entry(c.clone()).or_default() += a;
    }
    for (coldkey, remaining) in &books {
        assert_eq!(
            by_coldkey.get(coldkey).copied().unwrap_or(0),
            *remaining,
            "{coldkey}"
        );
    }
    let at_anchor: BTreeSet<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM vesting_tranches WHERE block = $1")
            .bind(anchor)
            .fetch_all(&c_pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        at_anchor,
        BTreeSet::from(["manual".to_string()]),
        "the gap's emissions are held as manual tranches"
    );
    r_pool.close().await;
    c_pool.close().await;
    devnet.stop().await;
}
