//! Catch-up over a network: the devnet answers with latency and jitter (so answers come back
//! out of order), and back-fill reads many blocks ahead of the planner. The same chain is
//! back-filled twice from a snapshot at block 0: once from a node that serves
//! `state_queryStorage` (owners read over segments of blocks), once from one that refuses it as
//! a public node does (owners read at every block). Both runs must write the same tables,
//! through the two paths, with registrations, owner changes and swaps inside segments.
//! Exactness against the devnet's own ledger is `ingest::ingests_a_scripted_chain_exactly…`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tenure::chain::client::{ChainClient, Settings as ChainSettings};
use tenure::ingest;
use tenure_devnet::{Devnet, DevnetArgs};
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::ingest::dump;

const HALT: u64 = 160;

/// A fresh, migrated database.
async fn database(pool: &PgPool, name: &str) -> PgPool {
    let (p, _) = common::database(pool, name).await;
    tenure::db::migrate(&p).await.unwrap();
    p
}

/// Back-fills the devnet from block 0 to `HALT` into `pool`; returns the client (what it
/// learnt of the node) and the seconds it took.
async fn back_fill(devnet: &Devnet, pool: &PgPool) -> (Arc<ChainClient>, f64) {
    let client = Arc::new(ChainClient::new(ChainSettings {
        endpoints: vec![devnet.url()],
        archive_endpoints: Vec::new(),
        rpc_timeout: Duration::from_secs(20),
        stall_timeout: Duration::from_secs(20),
        reconnect_initial: Duration::from_millis(50),
        reconnect_max: Duration::from_secs(1),
    }));
    let mut cfg = tenure::config::Config::default();
    cfg.chain.netuid = 1;
    cfg.ingest.start_block = Some(0);
    cfg.uptime.sources = vec![tenure::config::UptimeSource::Api];
    let metrics = Arc::new(tenure::metrics::Metrics::new(1));
    let health = Arc::new(tenure::health::Health::new(metrics.clone()));
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(ingest::run(
        client.clone(),
        pool.clone(),
        ingest::Settings::from_config(&cfg),
        metrics,
        health,
        cancel.clone(),
    ));
    crate::ingest::wait_for_cursor(pool, HALT, Duration::from_secs(120)).await;
    let secs = started.elapsed().as_secs_f64();
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("ingestion stops when cancelled")
        .unwrap()
        .unwrap();
    (client, secs)
}

#[sqlx::test(migrations = false)]
async fn back_fill_over_latency_writes_the_same_with_or_without_range_queries(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 2,
        finality_lag: 2,
        seed: 31,
        netuid: 1,
        miners: 40,
        validators: 2,
        tempo: 9,
        activity: 40,
        halt_at: HALT,
        latency_ms: 3,
        jitter_ms: 6,
        ledger: Some(ledger.clone()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    while devnet.node.chain().finalized < HALT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The activity changes owners without events, re-registers uids and swaps keys: the paths
    // where the planner reads what was not read ahead.
    let ledger_kinds: Vec<String> = common::ledger::read(&ledger)
        .iter()
        .filter(|l| l["block"].as_u64().is_some_and(|b| b > 0))
        .filter_map(|l| l["kind"].as_str().map(String::from))
        .collect();
    for kind in ["owner_changed", "registered", "hotkey_swapped"] {
        assert!(
            ledger_kinds.iter().any(|k| k == kind),
            "the chain has no {kind}: {ledger_kinds:?}"
        );
    }

    let ranged = database(&pool, "catchup_range").await;
    let (client, secs_ranged) = back_fill(&devnet, &ranged).await;
    assert!(!client.refuses_ranges(), "the devnet serves ranges");
    // The read-ahead covers most blocks: the planner reads itself only where the chain changed
    // what the hint said inside the window (a registration, a new owner; this chain's activity
    // is 40 % of blocks: about a quarter of them). Without a read-ahead it would read at
    // every block.
    let own = client.counters.planner_reads.load(Ordering::Relaxed);
    eprintln!("the planner read {own} of {HALT} blocks itself");
    assert!(
        own < HALT / 2,
        "the planner read {own} of {HALT} blocks itself"
    );

    devnet.node.safe_rpc.store(true, Ordering::Relaxed);
    let safe = database(&pool, "catchup_safe").await;
    let (client, secs_safe) = back_fill(&devnet, &safe).await;
    assert!(client.refuses_ranges(), "a safe node refuses ranges");
    eprintln!(
        "back-fill of {HALT} blocks: {secs_ranged:.2} s with ranges, {secs_safe:.2} s without"
    );

    let (a, b) = (dump(&ranged).await, dump(&safe).await);
    assert!(a.len() > 1000, "{} rows", a.len());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    devnet.stop().await;
}
