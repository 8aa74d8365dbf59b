use futures::TryStreamExt;
use sqlx::PgPool;
use std::time::Instant;
use tenure::ingest::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL")?)?;
    url.set_path("tenure_bench_epoch");
    let pool = PgPool::connect(url.as_str()).await?;
    let mut cfg = tenure::config::Config::default();
    cfg.chain.netuid = 1;
    let s = Settings::from_config(&cfg);
    let cursor: i64 = sqlx::query_scalar("SELECT block_number FROM ingest_cursor")
        .fetch_one(&pool)
        .await?;
    let since = tenure::vesting::epoch::Params::new(
        &s.vesting.cfg,
        s.vesting.block_time_secs,
        cursor as u64,
    )
    .since();
    for _ in 0..3 {
        let t = Instant::now();
        let st = tenure::ingest::store::load(&pool, s.netuid).await?;
        println!(
            "planner state {:.2} s ({:?})",
            t.elapsed().as_secs_f64(),
            st.cursor.map(|c| c.0)
        );
        let t = Instant::now();
        let m = tenure::ingest::store::Memory::load(&pool, &s, Some(cursor as u64)).await?;
        println!("memory {:.2} s", t.elapsed().as_secs_f64());
        drop(m);
        let t = Instant::now();
        let u = tenure::uptime::epoch::load(&pool, &s.uptime, cursor as u64).await?;
        println!(
            "uptime alone {:.2} s ({} periods)",
            t.elapsed().as_secs_f64(),
            u.cache.len()
        );
        let t = Instant::now();
        let w = tenure::vesting::store::load_tally(&pool, s.netuid, s.scope, since).await?;
        println!(
            "tally alone {:.2} s ({})",
            t.elapsed().as_secs_f64(),
            w.len()
        );
        let t = Instant::now();
        let mut c = pool.acquire().await?;
        let mut rows = sqlx::query_as::<_, (i64, i64, i32, i32, Option<Vec<i32>>, Option<Vec<i32>>)>("SELECT miner_id, day, rounds, up, CASE WHEN day >= 360 THEN hour_rounds END, CASE WHEN day >= 360 THEN hour_up END FROM uptime_days WHERE netuid = 1 AND day >= 210").fetch(&mut *c);
        let mut n = 0u64;
        while let Some(r) = rows.try_next().await? {
            n += r.4.map_or(0, |v| v.len()) as u64 + 1;
        }
        println!("rows only {:.2} s ({n})", t.elapsed().as_secs_f64());
    }
    Ok(())
}
