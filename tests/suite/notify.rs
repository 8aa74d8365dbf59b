//! systemd's notify protocol, with a fake service manager: the daemon binary runs with
//! `NOTIFY_SOCKET` pointing at a datagram socket this test reads, and `WATCHDOG_USEC` set.
//! `READY=1` comes once, only after a block was processed; `WATCHDOG=1` keeps coming while
//! the block loop runs and stops when the loop is wedged (its database write blocked by a
//! lock this test holds), then resumes; `STATUS=` names the block; `STOPPING=1` on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;

const WATCHDOG_MS: u64 = 1000;

/// Messages from the daemon with their arrival time.
fn listen(sock: UnixDatagram) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            if tx.send((Instant::now(), msg)).is_err() {
                return;
            }
        }
    });
    rx
}

async fn cursor(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("SELECT block_number FROM ingest_cursor")
        .fetch_optional(pool)
        .await
        .unwrap()
}

/// Receives (without blocking the runtime) until `until` holds or `secs` pass.
async fn recv_until(
    rx: &mpsc::Receiver<(Instant, String)>,
    secs: u64,
    mut until: impl FnMut(&(Instant, String)) -> bool,
) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut got = Vec::new();
    loop {
        while let Ok(m) = rx.try_recv() {
            let done = until(&m);
            got.push(m);
            if done {
                return got;
            }
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {secs} s; received {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn ready_after_the_first_block_watchdog_from_the_block_loop(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let rx = listen(sock);
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 100,
        tempo: 20,
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let mut c = common::daemon::config(&devnet.url(), &common::url_of(&pool), 1);
    c.http.enabled = false;
    c.ingest.pipeline_depth = 1;
    c.weights.enabled = false;
    let config = common::daemon::write(dir.path(), "tenure", &c);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", (WATCHDOG_MS * 1000).to_string())
        .env_remove("WATCHDOG_PID")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // READY once, and only when a block is in the database.
    let got = recv_until(&rx, 60, |(_, m)| m.contains("READY=1")).await;
    assert!(
        cursor(&pool).await.is_some(),
        "READY before any block was processed"
    );
    assert_eq!(got.iter().filter(|(_, m)| m.contains("READY=1")).count(), 1);

    // The watchdog is fed while blocks flow, at least twice per interval.
    let started = Instant::now();
    let got = recv_until(&rx, 10, |(t, _)| {
        t.duration_since(started) > Duration::from_millis(3 * WATCHDOG_MS)
    })
    .await;
    let pings: Vec<Instant> = got
        .iter()
        .filter(|(_, m)| m.contains("WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect();
    assert!(pings.len() >= 6, "{got:?}");
    assert!(
        pings
            .windows(2)
            .all(|w| w[1] - w[0] < Duration::from_millis(WATCHDOG_MS / 2)),
        "{got:?}"
    );
    assert!(
        got.iter().any(|(_, m)| m.contains("STATUS=block ")),
        "{got:?}"
    );

    // Wedge the block loop: hold the ingest cursor's row lock, so the next block's write waits.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT * FROM ingest_cursor FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let wedged_at = Instant::now();
    let mut last_ping = Instant::now();
    let silent = loop {
        while let Ok((t, m)) = rx.try_recv() {
            if m.contains("WATCHDOG=1") {
                last_ping = t;
            }
        }
        if last_ping.elapsed() > Duration::from_millis(3 * WATCHDOG_MS) {
            break last_ping.elapsed();
        }
        assert!(
            wedged_at.elapsed() < Duration::from_secs(20),
            "the watchdog is still fed 20 s into a wedged block loop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(silent > Duration::from_millis(3 * WATCHDOG_MS));
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "the daemon itself keeps running: the service manager decides"
    );
    // Unwedged: the pings resume.
    tx.rollback().await.unwrap();
    let resumed = Instant::now();
    recv_until(&rx, 10, |(t, m)| *t > resumed && m.contains("WATCHDOG=1")).await;

    // SIGTERM: STOPPING=1, then a clean exit.
    common::sigterm(&child);
    recv_until(&rx, 20, |(_, m)| m.contains("STOPPING=1")).await;
    let status = common::wait_exit(&mut child, 30).await;
    assert!(status.success(), "{status}");
    devnet.stop().await;
}
