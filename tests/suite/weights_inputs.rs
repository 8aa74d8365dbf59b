//! What an epoch's weights are computed from, against a real PostgreSQL: base scores of the
//! `table` source with their freshness, and the alpha-selling penalty — drops measured from
//! `stake_changes` with emissions excluded, stored once in `stake_penalties` with the tier's
//! duration in chain blocks, applied to the coldkey's miners, expired on time, and not repeated
//! for the same sale.

use sqlx::PgPool;
use tenure::config::{PenaltyConfig, ScoresSource};
use tenure::weights::inputs::{PenaltySettings, Settings, load};

const HEAD: u64 = 60_000;
const PER_HOUR: u64 = 300;

async fn seed(pool: &PgPool) {
    for (i, (hk, ck)) in [("hA", "cA"), ("hB", "cB"), ("hC", "cC")]
        .iter()
        .enumerate()
    {
        sqlx::query(
            "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
             VALUES ($1, 1, $2, $3, 0, 0)",
        )
        .bind(i as i64 + 1)
        .bind(hk)
        .bind(i as i32)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO hotkey_owners (netuid, hotkey, coldkey, from_block, reason)
             VALUES (1, $1, $2, 0, 'snapshot')",
        )
        .bind(hk)
        .bind(ck)
        .execute(pool)
        .await
        .unwrap();
    }
    // A keeps an emission of 100; B sells a fifth near the end; C sells half at the very end.
    for (ck, hk, block, alpha) in [
        ("cA", "hA", 100, 1000),
        ("cA", "hA", 30_000, 1100),
        ("cB", "hB", 100, 1000),
        ("cB", "hB", 59_900, 800),
        ("cC", "hC", 100, 1000),
        ("cC", "hC", 59_990, 500),
    ] {
        sqlx::query(
            "INSERT INTO stake_changes (netuid, coldkey, hotkey, block, alpha_rao) VALUES (1, $1, $2, $3, $4)",
        )
        .bind(ck)
        .bind(hk)
        .bind(block as i64)
        .bind(alpha as i64)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO emissions (netuid, epoch_block, uid, miner_id, hotkey, coldkey, amount_rao)
         VALUES (1, 30000, 0, 1, 'hA', 'cA', 100)",
    )
    .execute(pool)
    .await
    .unwrap();
}

fn settings(detect: bool) -> Settings {
    Settings {
        netuid: 1,
        source: ScoresSource::Uniform,
        max_age_blocks: 100,
        exempt: Default::default(),
        penalty: Some(PenaltySettings {
            cfg: PenaltyConfig {
                enabled: true,
                ..PenaltyConfig::default()
            },
            blocks_per_hour: PER_HOUR,
            detect,
        }),
    }
}

async fn factors(pool: &PgPool, detect: bool, head: u64) -> Vec<f64> {
    let mut tx = pool.begin().await.unwrap();
    let loaded = load(&mut tx, &settings(detect), head).await.unwrap();
    tx.commit().await.unwrap();
    loaded.inputs.iter().map(|i| i.penalty.applied).collect()
}

async fn stored(pool: &PgPool) -> Vec<(String, i64, i64, f64)> {
    sqlx::query_as(
        "SELECT coldkey, from_block, until_block, factor FROM stake_penalties ORDER BY coldkey, from_block",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn drops_are_penalized_once_for_the_tiers_duration(pool: PgPool) {
    seed(&pool).await;
    // A preview (no detection) stores nothing and applies nothing.
    assert_eq!(factors(&pool, false, HEAD).await, vec![1.0, 1.0, 1.0]);
    assert!(stored(&pool).await.is_empty());

    assert_eq!(factors(&pool, true, HEAD).await, vec![1.0, 0.6, 0.4]);
    let h = HEAD as i64;
    let want = vec![
        ("cB".to_string(), h, h + 12 * PER_HOUR as i64, 0.6),
        ("cC".to_string(), h, h + 24 * PER_HOUR as i64, 0.4),
    ];
    assert_eq!(stored(&pool).await, want);
    let drop: f64 =
        sqlx::query_scalar("SELECT drop_fraction FROM stake_penalties WHERE coldkey = 'cB'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // mean = (1000 · 50300 + 800 · 100) / 50400 over the 7-day window [9600, 60000).
    let mean = (1000.0 * 50_300.0 + 800.0 * 100.0) / 50_400.0;
    assert!((drop - (mean - 800.0) / mean).abs() < 1e-12, "{drop}");

    // In force until its last block, and not stored twice.
    assert_eq!(factors(&pool, true, HEAD + 1).await, vec![1.0, 0.6, 0.4]);
    let b_end = HEAD + 12 * PER_HOUR;
    assert_eq!(factors(&pool, true, b_end - 1).await, vec![1.0, 0.6, 0.4]);
    // B's penalty expires; its sale is not penalized again. C's runs on.
    assert_eq!(factors(&pool, true, b_end).await, vec![1.0, 1.0, 0.4]);
    assert_eq!(stored(&pool).await, want);
    assert_eq!(
        factors(&pool, true, HEAD + 24 * PER_HOUR).await,
        vec![1.0, 1.0, 1.0]
    );
    assert_eq!(stored(&pool).await.len(), 2);
}

#[sqlx::test]
async fn table_scores_are_used_while_fresh(pool: PgPool) {
    seed(&pool).await;
    // The validator writes its own rows; an `api` row is not the table's.
    for (hk, score, block, source) in [
        ("hA", 2.5, 59_950, "table"),
        ("hB", 4.0, 59_000, "table"),
        ("hC", 9.0, 59_990, "api"),
    ] {
        sqlx::query(
            "INSERT INTO base_scores (netuid, hotkey, score, block, source) VALUES (1, $1, $2, $3, $4)",
        )
        .bind(hk)
        .bind(score)
        .bind(block as i64)
        .bind(source)
        .execute(&pool)
        .await
        .unwrap();
    }
    let s = Settings {
        source: ScoresSource::Table,
        max_age_blocks: 100,
        penalty: None,
        ..settings(false)
    };
    let mut tx = pool.begin().await.unwrap();
    let loaded = load(&mut tx, &s, HEAD).await.unwrap();
    tx.commit().await.unwrap();
    let bases: Vec<Option<f64>> = loaded
        .inputs
        .iter()
        .map(|i| i.base.as_ref().map(|b| b.score))
        .collect();
    // hB's score is 1,000 blocks old (stale); hC's row belongs to the api source.
    assert_eq!(bases, vec![Some(2.5), None, None]);
    assert_eq!((loaded.fresh.scores.len(), loaded.fresh.stale), (1, 1));
    assert_eq!(
        loaded.fresh.none_reason(ScoresSource::Table, HEAD, 100),
        None
    );
    // Later, nothing is fresh: the reason names the newest score's age.
    let mut tx = pool.begin().await.unwrap();
    let later = load(&mut tx, &s, HEAD + 500).await.unwrap();
    tx.commit().await.unwrap();
    let reason = later
        .fresh
        .none_reason(ScoresSource::Table, HEAD + 500, 100)
        .unwrap();
    assert!(reason.contains("550 blocks old"), "{reason}");
    assert!(later.inputs.iter().all(|i| i.base.is_none()));
}

/// A milestone's bonus is used up only by a submission made with the uptime mode `on`: a shadow
/// trial's plans, dry runs and epochs without a plan leave it for the first real one.
#[sqlx::test]
async fn milestones_are_used_only_by_submissions_in_mode_on(pool: PgPool) {
    use tenure::weights::pipeline::{self, Base, Input, Params};
    use tenure::weights::submission::{NewPlan, plan};
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         VALUES (1, 1, 'hA', 0, 0, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO achievements (netuid, miner_id, milestone, awarded_block, bonus, epochs_remaining)
         VALUES (1, 1, 'perfect_week', 100, 0.15, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (block, mode) in [(100, "shadow"), (200, "on"), (300, "on")] {
        sqlx::query(
            "INSERT INTO uptime_epochs (netuid, epoch_block, mode, params) VALUES (1, $1, $2, '{}')",
        )
        .bind(block as i64)
        .bind(mode)
        .execute(&pool)
        .await
        .unwrap();
    }
    let input = Input {
        uid: 0,
        hotkey: "hA".into(),
        miner_id: Some(1),
        validator: false,
        exempt: false,
        base: Some(Base {
            score: 1.0,
            block: None,
            source: ScoresSource::Uniform,
        }),
        uptime: pipeline::neutral("test"),
        vesting: pipeline::neutral("test"),
        penalty: pipeline::neutral("test"),
    };
    let params = Params {
        max_total_multiplier: 3.0,
        min_allowed_weights: 0,
        max_weights_limit: u16::MAX,
    };
    let computed = pipeline::compute(&params, vec![input]).unwrap();
    let remaining = || async {
        sqlx::query_scalar::<_, i32>("SELECT epochs_remaining FROM achievements")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let mut epoch = 0;
    let mut submit = |uptime_epoch: Option<u64>, dry_run: bool| {
        epoch += 1;
        let new = NewPlan {
            netuid: 1,
            mechid: 0,
            epoch_index: epoch,
            epoch_block: epoch * 100,
            planned_block: epoch * 100 + 1,
            method: "set_weights",
            dry_run,
            version_key: 0,
            max_total_multiplier: 3.0,
            plan: &computed,
            detail: "test".into(),
            uptime_epoch,
            min_allowed_weights: 1,
            max_weights_limit: u16::MAX,
        };
        let pool = pool.clone();
        async move { plan(&pool, &new, None).await.unwrap().expect("a new plan") }
    };
    submit(Some(100), false).await; // the shadow epoch's record
    submit(None, false).await; // no uptime record at all
    submit(Some(200), true).await; // a dry run
    assert_eq!(remaining().await, 1, "nothing paid the bonus yet");
    submit(Some(200), false).await;
    assert_eq!(
        remaining().await,
        0,
        "the first submission in mode on used it"
    );
    submit(Some(300), false).await;
    assert_eq!(remaining().await, 0);
}
