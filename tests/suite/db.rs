//! The schema against a real PostgreSQL: migrations apply to an empty database, re-apply as a
//! no-op, and the constraints refuse what must never be stored.

use sqlx::PgPool;
use tenure::db;

#[sqlx::test(migrations = false)]
async fn migrations_apply_to_an_empty_database_and_reapply_as_noop(pool: PgPool) {
    let first = db::migrate(&pool).await.unwrap();
    assert!(!first.is_empty(), "an empty database gets every migration");
    assert_eq!(
        db::applied_versions(&pool).await.unwrap().len(),
        db::MIGRATOR.iter().count()
    );

    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let tables: Vec<String> = tables.into_iter().map(|(t,)| t).collect();
    for t in [
        "blocks",
        "ingest_cursor",
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
        "uptime_rounds",
        "uptime_samples",
        "uptime_hourly",
        "uptime_daily",
        "achievements",
        "grants",
        "uptime_multipliers",
        "base_scores",
        "stake_penalties",
        "weight_submissions",
        "weight_submission_log",
        "weight_entries",
        "settings",
        "settings_audit",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "table {t} missing; have {tables:?}"
        );
    }

    let second = db::migrate(&pool).await.unwrap();
    assert!(
        second.is_empty(),
        "re-applying changed something: {second:?}"
    );
}

#[sqlx::test]
async fn constraints_refuse_bad_rows(pool: PgPool) {
    // NaN and infinite base scores.
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let r = sqlx::query(
            "INSERT INTO base_scores (netuid, hotkey, score, block) VALUES (1, 'hk', $1, 1)",
        )
        .bind(bad)
        .execute(&pool)
        .await;
        assert!(r.is_err(), "score {bad} was stored");
    }
    // Negative stake.
    let r = sqlx::query(
        "INSERT INTO stake_changes (netuid, coldkey, hotkey, block, alpha_rao) VALUES (1, 'c', 'h', 1, -5)",
    )
    .execute(&pool)
    .await;
    assert!(r.is_err());

    // Two live miners on one uid.
    let insert = "INSERT INTO miners (netuid, hotkey, uid, registered_at_block, first_seen_block) VALUES (1, $1, 7, $2, $2)";
    sqlx::query(insert)
        .bind("hk-a")
        .bind(10_i64)
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        sqlx::query(insert)
            .bind("hk-b")
            .bind(20_i64)
            .execute(&pool)
            .await
            .is_err()
    );
    sqlx::query("UPDATE miners SET deregistered_at_block = 20 WHERE hotkey = 'hk-a'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(insert)
        .bind("hk-b")
        .bind(20_i64)
        .execute(&pool)
        .await
        .unwrap();

    // One submission per epoch.
    let sub = "INSERT INTO weight_submissions (netuid, epoch_index, epoch_block, planned_block, status, method, version_key, uids, weights) \
               VALUES (1, 42, 100, 120, 'planned', 'set_weights', 0, '{1,2}', '{65535,100}')";
    sqlx::query(sub).execute(&pool).await.unwrap();
    let dup = sqlx::query(sub).execute(&pool).await.unwrap_err();
    assert!(
        dup.to_string()
            .contains("weight_submissions_netuid_mechid_epoch_index_key"),
        "{dup}"
    );

    // A tranche cannot hold more than it started with.
    let r = sqlx::query(
        "INSERT INTO vesting_tranches (netuid, scope, coldkey, kind, block, initial_rao, remaining_rao) VALUES (1, 'coldkey', 'c', 'manual', 1, 10, 11)",
    )
    .execute(&pool)
    .await;
    assert!(r.is_err());
}
