//! High availability end to end: two daemon binaries on one devnet (real WebSockets) and one
//! PostgreSQL database. Exactly one accepted submission per epoch while both run; the leader
//! killed ⇒ the standby submits the following epochs; the leader's lease connection cut ⇒ the
//! old leader stops before the new one starts. Both instances ingest: the shared database's
//! vesting records equal those of a third, single daemon that ingests the same chain alone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sqlx::PgPool;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;

const TEMPO: u16 = 20;
const NETUID: u16 = 1;
const CHECK_MS: u64 = 200;
const TAKEOVER_MS: u64 = 1000;

struct Net {
    devnet: Devnet,
    dir: tempfile::TempDir,
    ledger: PathBuf,
}

async fn devnet() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 100,
        netuid: NETUID,
        tempo: TEMPO,
        miners: 12,
        validators: 2,
        rate_limit: 10,
        min_allowed_weights: 4,
        wallet_path: Some(dir.path().to_path_buf()),
        ledger: Some(ledger.clone()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    Net {
        devnet,
        dir,
        ledger,
    }
}

struct Instance {
    name: &'static str,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Instance {
    fn start(net: &Net, db: &str, name: &'static str, lead_blocks: Option<u64>) -> Instance {
        let port = common::free_port();
        let mut c = common::daemon::config(&net.devnet.url(), db, NETUID);
        common::daemon::devnet_wallet(&mut c, net.dir.path());
        common::daemon::http(&mut c, port, None);
        c.scores.source = tenure::config::ScoresSource::Uniform;
        c.ha.instance = name.into();
        c.ha.lease_check_ms = CHECK_MS;
        c.ha.takeover_delay_ms = TAKEOVER_MS;
        match lead_blocks {
            Some(lead) => c.weights.lead_blocks = lead,
            None => c.weights.enabled = false,
        }
        let (_, child) = common::daemon::start(net.dir.path(), name, &c);
        Instance {
            name,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            child: Some(child),
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit.
    async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            common::sigterm(&c);
            let status = common::wait_exit(&mut c, 30).await;
            assert!(status.success(), "{} exited with {status}", self.name);
        }
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    async fn leader_metric(&self) -> Option<f64> {
        let (status, body) = common::http_get(self.addr, "/metrics").await;
        if status != 200 {
            return None;
        }
        body.lines()
            .find_map(|l| l.strip_prefix("tenure_leader "))
            .and_then(|v| v.trim().parse().ok())
    }

    async fn readyz(&self) -> Json {
        let (_, body) = common::http_get(self.addr, "/readyz").await;
        serde_json::from_str(&body).unwrap_or(Json::Null)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Event {
    token: i64,
    instance: String,
    event: String,
    at: chrono::DateTime<chrono::Utc>,
}

async fn events(pool: &PgPool) -> Vec<Event> {
    sqlx::query_as("SELECT token, instance, event, at FROM leader_log ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Waits until `instance` leads (a `leading` event); returns its token.
async fn wait_leading(pool: &PgPool, instance: &str, after_token: i64, secs: u64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(e) = events(pool)
            .await
            .into_iter()
            .find(|e| e.instance == instance && e.event == "leading" && e.token > after_token)
        {
            return e.token;
        }
        assert!(
            Instant::now() < deadline,
            "{instance} does not lead within {secs} s: {:#?}",
            events(pool).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    epoch_index: i64,
    status: String,
    in_block_number: Option<i64>,
    leader_token: Option<i64>,
}

async fn rows(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT epoch_index, status, in_block_number, leader_token FROM weight_submissions
          ORDER BY epoch_index",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Waits for `n` finalized submissions written under `token`.
async fn wait_finalized_by(pool: &PgPool, token: i64, n: usize, secs: u64) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = rows(pool).await;
        if r.iter()
            .filter(|r| r.status == "finalized" && r.leader_token == Some(token))
            .count()
            >= n
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} finalized submissions under token {token} within {secs} s: {r:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Weight vectors the devnet accepted, per epoch: must be exactly one each.
fn accepted_per_epoch(ledger: &Path) -> BTreeMap<u64, usize> {
    let mut per: BTreeMap<u64, usize> = BTreeMap::new();
    for l in common::ledger::read(ledger) {
        if l["kind"] == "weights_set" {
            *per.entry(common::epoch_of(
                NETUID,
                TEMPO,
                l["block"].as_u64().unwrap(),
            ))
            .or_default() += 1;
        }
    }
    per
}

async fn head(pool: &PgPool) -> u64 {
    sqlx::query_scalar::<_, i64>("SELECT block_number FROM ingest_cursor")
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or(0) as u64
}

type Vesting = (i64, i32, String, String, i64, i64, Option<f64>, f64, f64);

async fn vesting(pool: &PgPool, upto: i64) -> Vec<Vesting> {
    sqlx::query_as(
        "SELECT epoch_block, uid, hotkey, coldkey, earned_rao, remaining_rao, holding_fraction,
                holding_days, multiplier
           FROM vesting_multipliers WHERE epoch_block <= $1 ORDER BY epoch_block, uid",
    )
    .bind(upto)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn two_daemons_submit_once_per_epoch_and_the_standby_takes_over(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let net = devnet().await;
    let db = common::url_of(&pool);
    let reference = tenure::db::scratch(&common::database_url(), "tenure_ha_reference")
        .await
        .unwrap();
    let mut solo = Instance::start(&net, &common::url_of(&reference), "solo", None);
    let mut alpha = Instance::start(&net, &db, "alpha", Some(8));
    let t_alpha = wait_leading(&pool, "alpha", 0, 60).await;
    let mut beta = Instance::start(&net, &db, "beta", Some(8));

    // Both running, one submitter.
    wait_finalized_by(&pool, t_alpha, 3, 120).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = beta.readyz().await;
        if r["leader"]["role"] == "standby" && r["leader"]["leader"] == "alpha" {
            break;
        }
        assert!(Instant::now() < deadline, "beta's /readyz: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = alpha.readyz().await;
    assert_eq!(r["leader"]["role"], "leader", "{r}");
    assert_eq!(r["leader"]["token"], t_alpha, "{r}");
    assert_eq!(alpha.leader_metric().await, Some(1.0));
    assert_eq!(beta.leader_metric().await, Some(0.0));
    assert!(beta.running());

    // The leader dies: the standby takes over and submits the next epochs.
    let killed_at = head(&pool).await;
    alpha.kill();
    let t_beta = wait_leading(&pool, "beta", t_alpha, 60).await;
    assert!(t_beta > t_alpha);
    let r = wait_finalized_by(&pool, t_beta, 3, 120).await;
    let first_beta = r
        .iter()
        .filter(|r| r.status == "finalized" && r.leader_token == Some(t_beta))
        .map(|r| r.epoch_index as u64)
        .min()
        .unwrap();
    assert!(
        first_beta <= common::epoch_of(NETUID, TEMPO, killed_at) + 2,
        "killed in epoch {}, beta's first submission is for epoch {first_beta}",
        common::epoch_of(NETUID, TEMPO, killed_at)
    );
    let per = accepted_per_epoch(&net.ledger);
    assert!(per.len() >= 6, "{per:?}");
    assert!(
        per.values().all(|n| *n == 1),
        "two accepted in an epoch: {per:?}"
    );
    for row in r.iter().filter(|r| r.status == "finalized") {
        let b = row.in_block_number.unwrap() as u64;
        assert_eq!(
            per.get(&common::epoch_of(NETUID, TEMPO, b)),
            Some(&1),
            "{row:?}"
        );
    }

    // Both ingested into one database: its records equal those of a daemon alone.
    let upto = head(&pool).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while head(&reference).await < upto {
        assert!(Instant::now() < deadline, "the solo daemon lags");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shared = vesting(&pool, upto as i64).await;
    let alone = vesting(&reference, upto as i64).await;
    let epochs = shared
        .iter()
        .map(|v| v.0)
        .collect::<std::collections::BTreeSet<_>>();
    assert!(epochs.len() >= 4, "{epochs:?}");
    assert!(
        shared.iter().any(|v| v.4 > 0),
        "no emission recorded at all"
    );
    assert_eq!(shared, alone);
    let gaps: i64 =
        sqlx::query_scalar("SELECT (max(number) - min(number) + 1) - count(*) FROM blocks")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(gaps, 0);

    // A clean stop releases the lease (the next leader need not wait).
    beta.stop().await;
    solo.stop().await;
    let e = events(&pool).await;
    assert!(
        e.iter()
            .any(|e| e.instance == "beta" && e.event == "released" && e.token == t_beta),
        "{e:#?}"
    );
    let released: bool = sqlx::query_scalar("SELECT released_at IS NOT NULL FROM leader_lease")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(released);
    net.devnet.stop().await;
}

#[sqlx::test]
async fn a_cut_lease_connection_stops_the_old_leader_before_the_new_one_starts(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let net = devnet().await;
    let db = common::url_of(&pool);
    let mut alpha = Instance::start(&net, &db, "alpha", Some(8));
    let t_alpha = wait_leading(&pool, "alpha", 0, 60).await;
    let mut beta = Instance::start(&net, &db, "beta", Some(8));
    wait_finalized_by(&pool, t_alpha, 2, 120).await;
    // beta is up and standing by.
    let deadline = Instant::now() + Duration::from_secs(30);
    while beta.leader_metric().await != Some(0.0) {
        assert!(Instant::now() < deadline, "beta does not serve metrics");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Cut the leader's lease connection from the server side.
    let cut: bool = sqlx::query_scalar(
        "SELECT pg_terminate_backend(holder_pid) FROM leader_lease WHERE token = $1",
    )
    .bind(t_alpha)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(cut);
    // Sampled from outside: never both leading at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (a, b) = (alpha.leader_metric().await, beta.leader_metric().await);
        assert!(
            !(a == Some(1.0) && b == Some(1.0)),
            "both instances report leading"
        );
        if b == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "beta never leads (alpha: {a:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t_beta = wait_leading(&pool, "beta", t_alpha, 10).await;
    // As the instances recorded it: the old term ended before the new one began, by more
    // than the margin the takeover delay gives.
    let e = events(&pool).await;
    let lost = e
        .iter()
        .find(|e| e.token == t_alpha && e.event == "lost")
        .unwrap_or_else(|| panic!("alpha never noticed: {e:#?}"));
    assert_eq!(lost.instance, "alpha");
    let leading = e
        .iter()
        .find(|e| e.token == t_beta && e.event == "leading")
        .unwrap();
    assert!(lost.at < leading.at, "{e:#?}");
    let acquired = e
        .iter()
        .find(|e| e.token == t_beta && e.event == "acquired")
        .unwrap();
    assert!(
        (leading.at - acquired.at).num_milliseconds() >= TAKEOVER_MS as i64,
        "beta did not wait the takeover delay: {e:#?}"
    );

    // Submissions go on under the new term, still one per epoch; alpha keeps running as a
    // standby that knows who leads.
    wait_finalized_by(&pool, t_beta, 2, 120).await;
    let per = accepted_per_epoch(&net.ledger);
    assert!(
        per.values().all(|n| *n == 1),
        "two accepted in an epoch: {per:?}"
    );
    assert!(alpha.running(), "a lost lease must not stop the daemon");
    let r = alpha.readyz().await;
    assert_eq!(r["leader"]["role"], "standby", "{r}");
    assert_eq!(r["leader"]["leader"], "beta", "{r}");
    // Nothing was written under alpha's term after it lost the lease.
    let late: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM weight_submissions WHERE leader_token = $1 AND updated_at > $2",
    )
    .bind(t_alpha)
    .bind(lost.at)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(late, 0);
    alpha.stop().await;
    beta.stop().await;
    net.devnet.stop().await;
}
