//! A warm start: the writer's memory saved at a graceful stop is taken back only at the
//! cursor block and hash it was saved at, under the same settings, intact, and once.

use crate::common;
use crate::common::empty_block as block;

use sqlx::PgPool;
use tenure::chain::AccountId;
use tenure::config::Config;
use tenure::ingest::Settings;
use tenure::ingest::plan::{BookDelta, Emission};
use tenure::ingest::store::{Memory, write};
use tenure::ingest::warm_start;

fn settings() -> Settings {
    let mut cfg = Config::default();
    cfg.chain.netuid = 1;
    Settings::from_config(&cfg)
}

const MINERS: u8 = 3;

/// Registers three miners, gives them a day of rollups, and writes an epoch block in which
/// each earns a tranche: a memory with books, rollups and a watermark, at cursor 2.
async fn ingested(pool: &PgPool, s: &Settings) -> Memory {
    let mut mem = Memory::load(pool, s, None).await.unwrap();
    let key = |i: u8, k: u8| AccountId([10 * k + i; 32]);
    let mut w = block(1);
    w.snapshot = true;
    for i in 0..MINERS {
        w.registered.push((u16::from(i), key(i, 1), 0));
        w.owner_changes.insert(key(i, 1), (key(i, 2), "snapshot"));
    }
    write(pool, s, &mut mem, &w).await.unwrap();
    sqlx::query(
        "INSERT INTO uptime_days (netuid, miner_id, day, rounds, up, hour_rounds, hour_up)
         SELECT 1, id, 0, 12, 10 + uid % 3, array_fill(0, ARRAY[24]),
                array_fill(0, ARRAY[24])
           FROM miners",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE uptime_days SET hour_rounds[1] = 12, hour_up[1] = up")
        .execute(pool)
        .await
        .unwrap();
    let mut w = block(2);
    w.epoch = Some((0, 360));
    for i in 0..MINERS {
        let amount = 1_000 * (u64::from(i) + 1);
        w.emissions.push(Emission {
            uid: u16::from(i),
            hotkey: key(i, 1),
            coldkey: key(i, 2),
            amount,
            permit: false,
        });
        w.books.push(BookDelta {
            coldkey: key(i, 2),
            hotkey: None,
            emissions: vec![(amount, u16::from(i))],
            prev: 0,
            now: amount,
        });
    }
    write(pool, s, &mut mem, &w).await.unwrap();
    mem
}

async fn snapshots(pool: &PgPool) -> i64 {
    common::scalar(pool, "SELECT count(*) FROM engine_snapshots").await
}

#[sqlx::test]
async fn the_memory_saved_at_a_stop_comes_back_whole_once(pool: PgPool) {
    let s = settings();
    let mem = ingested(&pool, &s).await;
    assert_eq!(mem.at, Some(2));
    assert_eq!(mem.tally.len(), u64::from(MINERS));
    assert_eq!(mem.uptime.cache.miners().count(), usize::from(MINERS));
    assert!(mem.uptime.watermark().is_some());

    let saved = warm_start::save(&pool, &s, &mem).await.unwrap().unwrap();
    assert_eq!((saved.cursor, saved.books), (2, usize::from(MINERS)));
    assert_eq!(saved.miners, usize::from(MINERS));
    let back = Memory::load(&pool, &s, Some(2)).await.unwrap();
    assert_eq!(back.tally, mem.tally);
    assert_eq!(back.uptime, mem.uptime);
    assert_eq!(back.books, mem.books);
    assert_eq!(back.at, Some(2));
    assert!(back.warm && !mem.warm);
    assert_eq!(snapshots(&pool).await, 0, "taken once");

    // The next load reads the tables: the same sums, but no watermark until an epoch reads
    // the refresh window (which is how a cold load is told from a warm one here).
    let cold = Memory::load(&pool, &s, Some(2)).await.unwrap();
    assert!(!cold.warm);
    assert_eq!(cold.uptime.watermark(), None);
    assert_eq!(cold.uptime.cache, mem.uptime.cache);
    use tenure::vesting::window::WindowSums;
    for k in mem.tally.kept() {
        assert_eq!(
            cold.tally.sums(&k.key, mem.tally.since(), 2),
            mem.tally.sums(&k.key, mem.tally.since(), 2)
        );
    }
}

#[sqlx::test]
async fn a_snapshot_is_not_used_past_its_cursor_or_under_other_settings(pool: PgPool) {
    let s = settings();
    let mut mem = ingested(&pool, &s).await;

    // The cursor moved on after the save (another instance wrote a block).
    warm_start::save(&pool, &s, &mem).await.unwrap().unwrap();
    write(&pool, &s, &mut mem, &block(3)).await.unwrap();
    let loaded = Memory::load(&pool, &s, Some(3)).await.unwrap();
    assert_eq!(loaded.uptime.watermark(), None, "loaded from the tables");
    assert_eq!(snapshots(&pool).await, 0, "a stale snapshot is discarded");

    // Same block number, another hash (the block was written again elsewhere).
    warm_start::save(&pool, &s, &mem).await.unwrap().unwrap();
    sqlx::query("UPDATE ingest_cursor SET block_hash = $1")
        .bind(&[0xee_u8; 32][..])
        .execute(&pool)
        .await
        .unwrap();
    let loaded = Memory::load(&pool, &s, Some(3)).await.unwrap();
    assert_eq!(loaded.uptime.watermark(), None);
    assert_eq!(snapshots(&pool).await, 0);
    sqlx::query("UPDATE ingest_cursor SET block_hash = $1")
        .bind(&block(3).hash[..])
        .execute(&pool)
        .await
        .unwrap();

    // Rules that read further back than the memory kept.
    warm_start::save(&pool, &s, &mem).await.unwrap().unwrap();
    let mut cfg = Config::default();
    cfg.chain.netuid = 1;
    cfg.uptime.milestones.hours_streak += 500;
    let other = Settings::from_config(&cfg);
    let loaded = Memory::load(&pool, &other, Some(3)).await.unwrap();
    assert_eq!(loaded.uptime.watermark(), None);
    assert_eq!(snapshots(&pool).await, 0);

    // A memory that lags the database is not saved at all.
    mem.stale = true;
    assert_eq!(warm_start::save(&pool, &s, &mem).await.unwrap(), None);
    assert_eq!(snapshots(&pool).await, 0);
}

#[sqlx::test]
async fn a_malformed_snapshot_is_discarded_and_the_tables_are_read(pool: PgPool) {
    let s = settings();
    let mem = ingested(&pool, &s).await;
    warm_start::save(&pool, &s, &mem).await.unwrap().unwrap();
    // Every miner's day twice: the periods are no longer in increasing order.
    sqlx::query("UPDATE engine_snapshot_rollups SET days = days || days")
        .execute(&pool)
        .await
        .unwrap();
    assert!(warm_start::take(&pool, &s, 2).await.is_err());
    let loaded = Memory::load(&pool, &s, Some(2)).await.unwrap();
    assert_eq!(loaded.uptime.watermark(), None, "loaded from the tables");
    assert_eq!(loaded.uptime.cache, mem.uptime.cache);
    assert_eq!(snapshots(&pool).await, 0, "discarded");
}
