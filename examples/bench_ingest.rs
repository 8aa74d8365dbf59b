//! Ingestion benchmark (see BENCHMARKS.md): back-fill throughput of the real pipeline against
//! the devnet, and the database time of epoch blocks.
//!
//! `DATABASE_URL=postgres://… cargo run --release --example bench_ingest -- <miners> <blocks> [latency_ms]`
//! Creates (and drops) its own databases on that server. With `latency_ms` the devnet answers
//! as a node that far away (`--latency-ms`, round trip) and only the back-fill is timed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tenure::chain::client::{ChainClient, Settings as ChainSettings};
use tenure::config::StakeScope;
use tenure::ingest::plan::Planner;
use tenure::ingest::{self, store};
use tenure_devnet::{Devnet, DevnetArgs};
use tokio_util::sync::CancellationToken;

const NETUID: u16 = 1;

async fn fresh_db(admin: &PgPool, base: &str, name: &str) -> anyhow::Result<(PgPool, String)> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin)
        .await?;
    let mut url = url::Url::parse(base)?;
    url.set_path(name);
    let pool = PgPool::connect(url.as_str()).await?;
    tenure::db::migrate(&pool).await?;
    Ok((pool, url.to_string()))
}

fn client(url: &str) -> Arc<ChainClient> {
    Arc::new(ChainClient::new(ChainSettings {
        endpoints: vec![url.into()],
        archive_endpoints: Vec::new(),
        rpc_timeout: Duration::from_secs(30),
        stall_timeout: Duration::from_secs(30),
        reconnect_initial: Duration::from_millis(50),
        reconnect_max: Duration::from_secs(1),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let miners: u16 = args.get(1).map_or(Ok(256), |s| s.parse())?;
    let blocks: u64 = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let latency_ms: u64 = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let base = std::env::var("DATABASE_URL")?;
    let admin = PgPool::connect(&base).await?;
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 1,
        finality_lag: 2,
        miners,
        validators: 8,
        tempo: 99,
        activity: 20,
        halt_at: blocks,
        latency_ms,
        ..DevnetArgs::default()
    })
    .await?;
    while devnet.node.chain().finalized < blocks {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 1. Back-fill throughput of the real pipeline, from a snapshot at block 0.
    let (pool, _) = fresh_db(&admin, &base, "tenure_bench_a").await?;
    let metrics = Arc::new(tenure::metrics::Metrics::new(NETUID));
    let health = Arc::new(tenure::health::Health::new(metrics.clone()));
    let mut cfg = tenure::config::Config::default();
    cfg.chain.netuid = NETUID;
    cfg.ingest.start_block = Some(0);
    let settings = ingest::Settings::from_config(&cfg);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(ingest::run(
        client(&devnet.url()),
        pool.clone(),
        settings.clone(),
        metrics,
        health,
        cancel.clone(),
    ));
    let cursor = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT block_number FROM ingest_cursor")
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
    };
    // Timed from the snapshot (block 0) on: the back-fill proper.
    while cursor(pool.clone()).await.is_none() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = Instant::now();
    while cursor(pool.clone()).await != Some(blocks as i64) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    cancel.cancel();
    task.await??;
    println!(
        "backfill miners={} blocks={blocks} latency_ms={latency_ms} seconds={secs:.2} blocks_per_s={:.1}",
        miners + 8,
        blocks as f64 / secs
    );
    if latency_ms > 0 {
        devnet.stop().await;
        return Ok(());
    }

    // 2. Database time of each epoch block: the same chain planned block by block, with only
    //    the write timed.
    let (pool, _) = fresh_db(&admin, &base, "tenure_bench_b").await?;
    let c = client(&devnet.url());
    let planner = Planner {
        validator: None,
        netuid: NETUID,
        scope: StakeScope::Coldkey,
        exempt: Default::default(),
    };
    let mut state = store::load(&pool, NETUID).await?;
    let b0 = c.block_hash(0).await?;
    let w = planner
        .snapshot(&c, &mut state, &c.block_data(b0, NETUID).await?)
        .await?;
    let mut mem = store::Memory::load(&pool, &settings, None).await?;
    store::write(&pool, &settings, &mut mem, &w).await?;
    let mut epoch_ms = Vec::new();
    for n in 1..=blocks {
        let hint = ingest::prefetch::Hint::of(&state);
        let read = ingest::prefetch::block(&c, NETUID, c.block_hash(n).await?, None, &hint).await?;
        let w = planner.block(&c, &mut state, &read).await?;
        let t = Instant::now();
        store::write(&pool, &settings, &mut mem, &w).await?;
        if w.epoch.is_some() {
            epoch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    epoch_ms.sort_by(f64::total_cmp);
    let median = epoch_ms
        .get(epoch_ms.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    println!(
        "epoch_block_write miners={} epochs={} median_ms={median:.1} max_ms={:.1}",
        miners + 8,
        epoch_ms.len(),
        epoch_ms.last().copied().unwrap_or(f64::NAN)
    );
    pool.close().await;
    devnet.stop().await;
    for db in ["tenure_bench_a", "tenure_bench_b"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
    }
    Ok(())
}
