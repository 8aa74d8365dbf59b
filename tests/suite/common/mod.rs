//! Helpers shared by the integration tests. Database tests run against the real PostgreSQL
//! that `scripts/test.sh` (and CI) starts; `#[sqlx::test]` gives each test its own database.

pub mod daemon;
pub mod ledger;

/// One daemon scenario at a time across the whole suite: a devnet and two or three daemons
/// already fill two cores, and "landed in the epoch it was planned for" must be a question of
/// tenure, not of CPU.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use std::net::SocketAddr;

/// The devnet's epoch index of `block` (epochs run where (block + netuid + 1) % (tempo + 1) == 0).
pub fn epoch_of(netuid: u16, tempo: u16, block: u64) -> u64 {
    (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1)
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {} failed", child.id());
}

/// Waits (without blocking the test's runtime, which may serve the devnet) for `child` to exit.
pub async fn wait_exit(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port nobody listens on now (for a daemon's HTTP server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("its address")
        .port()
}
use std::time::Duration;

use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `DATABASE_URL` of the server the tests use.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL",
    )
}

/// A fresh database `tenure_<name>_<pid>` on the test's server (no migrations): its pool and
/// URL. Nothing drops it when the test ends (a failed test's database is there to look at):
/// the ones earlier test processes left, whose process is gone, are dropped here instead, so
/// that a developer's cluster keeps one per name.
pub async fn database(pool: &PgPool, name: &str) -> (PgPool, String) {
    let prefix = format!("tenure_{name}_");
    drop_leftovers(pool, &prefix).await;
    let db = format!("{prefix}{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&url_of(pool)).unwrap();
    url.set_path(&db);
    (
        PgPool::connect(url.as_str()).await.unwrap(),
        url.to_string(),
    )
}

/// Drops the databases `<prefix><pid>` whose test process is no longer running.
async fn drop_leftovers(pool: &PgPool, prefix: &str) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database")
        .fetch_all(pool)
        .await
        .unwrap();
    for name in names {
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let gone = !std::path::Path::new(&format!("/proc/{pid}")).exists();
        if pid != std::process::id() && gone {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

/// The one integer `sql` answers on `pool` (a count, a maximum).
pub async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// An empty block `number` for the ingest writer: 12 s blocks from the Unix epoch (UTC days
/// are block days), its hash and parent's filled with its number.
pub fn empty_block(number: u64) -> tenure::ingest::plan::BlockWrite {
    tenure::ingest::plan::BlockWrite {
        number,
        hash: [number as u8; 32],
        parent_hash: [number.saturating_sub(1) as u8; 32],
        timestamp_ms: number * 12_000,
        spec_version: 1,
        ..Default::default()
    }
}

/// A URL for the database behind `pool` (the per-test database of `#[sqlx::test]`).
pub fn url_of(pool: &PgPool) -> String {
    let name = pool
        .connect_options()
        .get_database()
        .expect("the test pool names its database")
        .to_string();
    let mut url = url::Url::parse(&database_url()).expect("DATABASE_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// A minimal HTTP/1.1 GET over a real TCP connection: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, &[], None).await
}

/// A minimal HTTP/1.1 request with extra headers and an optional JSON body: (status, body).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        match body {
            Some(b) => req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            None => req.push_str("\r\n"),
        }
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        String::from_utf8_lossy(&buf).into_owned()
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("HTTP request timed out");
    let status: u16 = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Bodies may be chunked; the tests only search them, so de-chunking is unnecessary.
    (status, body)
}

/// The real finney runtime metadata (spec 393), a fixture of this repository
/// (`tests/fixtures/README.md` gives its provenance and checksum).
pub fn finney_metadata() -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/finney-metadata-spec393.scale");
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// subxt's own client on its legacy backend (not tenure's chain code).
pub async fn subxt_client(url: &str) -> subxt::OnlineClient<subxt::SubstrateConfig> {
    let rpc = subxt::rpcs::RpcClient::from_url(url)
        .await
        .expect("connect");
    let backend = subxt::backend::LegacyBackend::<subxt::SubstrateConfig>::builder().build(rpc);
    subxt::OnlineClient::from_backend(std::sync::Arc::new(backend))
        .await
        .expect("client")
}

/// subxt's client at one block.
pub type At = subxt::client::ClientAtBlock<
    subxt::SubstrateConfig,
    subxt::client::OnlineClientAtBlockImpl<subxt::SubstrateConfig>,
>;

/// A storage value read with subxt's own client; panics naming the entry.
pub async fn read<K, V>(at: &At, pallet: &str, entry: &str, key: K) -> V
where
    K: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues,
    V: subxt::ext::scale_decode::DecodeAsType,
{
    at.storage()
        .fetch(subxt::dynamic::storage::<K, V>(pallet, entry), key)
        .await
        .unwrap_or_else(|e| panic!("{pallet}.{entry}: {e}"))
        .decode()
        .unwrap_or_else(|e| panic!("{pallet}.{entry}: {e}"))
}

/// tenure's view of the devnet's drand beacon with seed `seed` (its public key, quicknet's clock).
pub fn devnet_beacon(seed: u64) -> tenure::drand::Beacon {
    tenure::drand::Beacon::new(
        &tenure_devnet::beacon::Beacon::from_seed(seed).public_key_hex(),
        tenure::drand::QUICKNET_GENESIS,
        tenure::drand::QUICKNET_PERIOD_SECS,
    )
    .expect("the devnet's beacon key is a G2 point")
}

/// The API router on a free loopback port for `config` (the daemon's own router, state and
/// metrics; no chain): its address and the readiness it reports.
pub async fn serve_api(
    pool: PgPool,
    config: tenure::api::ApiConfig,
) -> (SocketAddr, std::sync::Arc<tenure::health::Health>) {
    use std::sync::Arc;
    let metrics = Arc::new(tenure::metrics::Metrics::new(config.netuid));
    let health = Arc::new(tenure::health::Health::new(metrics.clone()));
    let app = tenure::api::router(tenure::api::AppState {
        pool,
        metrics,
        health: health.clone(),
        api: Arc::new(config),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, health)
}
