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
        "tranche_books",
        "tranches",
        "tranche_outflows",
        "vesting_multipliers",
        "uptime_rounds",
        "uptime_samples",
        "uptime_hourly",
        "uptime_daily",
        "uptime_days",
        "uptime_round_samples",
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
    let book: i32 = sqlx::query_scalar(
        "INSERT INTO tranche_books (netuid, scope, coldkey) VALUES (1, 'coldkey', 'c') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let tranche = |remaining: i64| {
        sqlx::query(
            "INSERT INTO tranches (book_id, kind, block, initial_rao, remaining_rao) VALUES ($1, 'manual', 1, 10, $2)",
        )
        .bind(book)
        .bind(remaining)
        .execute(&pool)
    };
    assert!(tranche(11).await.is_err());
    assert!(tranche(10).await.is_ok());
    // A coldkey-scope book has no hotkey.
    let r = sqlx::query(
        "INSERT INTO tranche_books (netuid, scope, coldkey, hotkey) VALUES (1, 'coldkey', 'd', 'h')",
    )
    .execute(&pool)
    .await;
    assert!(r.is_err());
}

/// Uptime metrics written by earlier releases (a positional array) become keyed by rule name,
/// in the per-miner record and inside stored weight explanations, and both read back through
/// the typed views with the same values.
#[sqlx::test]
async fn positional_uptime_metrics_are_keyed_by_rule_name(pool: PgPool) {
    use tenure::uptime::Rule;
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         VALUES (1, 1, 'hk0', 0, 1, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // As every earlier release wrote it: 19 metrics in report order.
    let metrics: Vec<Option<f64>> = (0..19).map(|i| (i != 3).then_some(f64::from(i))).collect();
    let detail = serde_json::json!({
        "earned": [{"family": "longevity", "name": "longevity", "bonus": 0.05, "metric": 2.0,
                    "why": "2 consecutive known days"}],
        "metrics": metrics, "reliability_factor": 1.0, "raw": 1.05, "new_milestones": [],
    });
    sqlx::query(
        "INSERT INTO uptime_multipliers (netuid, epoch_block, miner_id, uid, hotkey,
             current_uptime, historical_uptime, bonuses, multiplier, mode)
         VALUES (1, 100, 1, 0, 'hk0', 0.99, 0.98, $1, 1.05, 'on')",
    )
    .bind(&detail)
    .execute(&pool)
    .await
    .unwrap();
    let explain = serde_json::json!({
        "base": {"score": 1.0, "block": 90, "source": "api"},
        "untouched": null,
        "uptime": {"applied": 1.05, "why": {"epoch_block": 100, "mode": "on", "multiplier": 1.05,
            "current_uptime": 0.99, "historical_uptime": 0.98, "detail": detail}},
        "vesting": {"applied": 1.0, "why": {"note": "no vesting epoch recorded yet: 1.0"}},
        "penalty": {"applied": 1.0, "why": {"note": "weights.penalty disabled"}},
        "product": 1.05, "clamp": {"max_total_multiplier": 3.0, "clamped": false},
        "total_multiplier": 1.05, "raw_weight": 1.05, "normalized_weight": 1.0,
        "weight_u16": 65535,
    });
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO weight_submissions (netuid, epoch_index, epoch_block, planned_block, status,
             method, version_key, uids, weights)
         VALUES (1, 1, 100, 101, 'finalized', 'set_weights', 0, '{0}', '{65535}') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO weight_entries (submission_id, uid, miner_id, hotkey, base_score,
             uptime_multiplier, vesting_multiplier, penalty, total_multiplier, raw_weight,
             normalized_weight, weight_u16, explain)
         VALUES ($1, 0, 1, 'hk0', 1.0, 1.05, 1.0, 1.0, 1.05, 1.05, 1.0, 65535, $2)",
    )
    .bind(id)
    .bind(&explain)
    .execute(&pool)
    .await
    .unwrap();
    // An instance of an earlier release may still write such rows during an HA upgrade: they
    // read in the fixed order of that release, before the migration as after it.
    let sel = tenure::vesting::store::MinerSel::Uid(0);
    let before = tenure::weights::explain::explain(&pool, 1, &sel, None)
        .await
        .expect("a positional explanation reads");

    let migration = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/20261202000007_uptime_metrics_by_rule.sql"),
    )
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(migration))
        .execute(&pool)
        .await
        .unwrap();

    let (_, board) = tenure::uptime::leaderboard::leaderboard(&pool, 1, None)
        .await
        .unwrap()
        .expect("an uptime epoch");
    assert_eq!(board[0].consistency_days, 1.0);
    assert_eq!(board[0].longevity_days, 2.0);
    assert_eq!(board[0].detail.metric(Rule::Recovery), None);
    assert_eq!(board[0].detail.metric(Rule::Trend), Some(18.0));
    let stored: Vec<(String, String)> = sqlx::query_as(
        "SELECT json_typeof(bonuses -> 'metrics'),
                jsonb_typeof(e.explain #> '{uptime,why,detail,metrics}')
           FROM uptime_multipliers, weight_entries e",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stored, [("object".to_string(), "object".to_string())]);
    let explained = tenure::weights::explain::explain(&pool, 1, &sel, None)
        .await
        .expect("the converted explanation reads as the typed one");
    assert_eq!(explained.explain, before.explain);
    let tenure::weights::explanation::UptimeWhy::Recorded(r) = &explained.explain.uptime.why else {
        panic!("the uptime reasons are the recorded epoch's");
    };
    assert_eq!(r.detail.metric(Rule::PeakHours), Some(5.0));
    assert_eq!(r.detail.metric(Rule::CommunityContributor), Some(17.0));
}

/// Applies the migrations before `version` (a database as an earlier release left it).
async fn migrate_before(pool: &PgPool, version: i64) {
    for m in db::MIGRATOR.iter().filter(|m| m.version < version) {
        sqlx::raw_sql(m.sql.clone()).execute(pool).await.unwrap();
    }
}

/// Runs one migration file by name.
async fn run_migration(pool: &PgPool, file: &str) {
    let sql = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(file),
    )
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

/// Rollups of earlier releases, keyed by chain hour and day, are re-keyed by the UTC hour and
/// day of their first round (rows landing in the same one merged), and start at its start.
#[sqlx::test(migrations = false)]
async fn rollups_are_rekeyed_by_utc_hour_and_day(pool: PgPool) {
    use chrono::{DateTime, Utc};
    migrate_before(&pool, 20261203000011).await;
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         VALUES (1, 1, 'hk0', 0, 1, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (table, col, index, at, rounds, up) in [
        ("uptime_hourly", "hour", 2, "2026-01-05T10:59:50Z", 3, 2),
        ("uptime_hourly", "hour", 3, "2026-01-05T11:05:00Z", 2, 2),
        ("uptime_hourly", "hour", 4, "2026-01-05T11:40:00Z", 1, 0),
        ("uptime_daily", "day", 0, "2026-01-05T10:59:50Z", 5, 4),
        ("uptime_daily", "day", 1, "2026-01-05T23:00:00Z", 1, 1),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (netuid, miner_id, {col}, started_at, rounds, up)
             VALUES (1, 1, $1, $2::timestamptz, $3, $4)"
        )))
        .bind(index)
        .bind(at)
        .bind(rounds)
        .bind(up)
        .execute(&pool)
        .await
        .unwrap();
    }
    run_migration(&pool, "20261203000011_rollups_by_utc_hour.sql").await;
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let hours: Vec<(i64, DateTime<Utc>, i32, i32)> =
        sqlx::query_as("SELECT hour, started_at, rounds, up FROM uptime_hourly ORDER BY hour")
            .fetch_all(&pool)
            .await
            .unwrap();
    let ten = t("2026-01-05T10:00:00Z").timestamp() / 3600;
    assert_eq!(
        hours,
        [
            (ten, t("2026-01-05T10:00:00Z"), 3, 2),
            (ten + 1, t("2026-01-05T11:00:00Z"), 3, 2)
        ]
    );
    let days: Vec<(i64, DateTime<Utc>, i32, i32)> =
        sqlx::query_as("SELECT day, started_at, rounds, up FROM uptime_daily")
            .fetch_all(&pool)
            .await
            .unwrap();
    let day = t("2026-01-05T00:00:00Z");
    assert_eq!(days, [(day.timestamp() / 86_400, day, 6, 5)]);
}

/// The command line says nothing of PostgreSQL's notices: a second command on a migrated
/// database would otherwise print "relation _sqlx_migrations already exists, skipping".
#[sqlx::test(migrations = false)]
async fn cli_commands_print_no_database_notices(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tenure::config::Config::default();
    cfg.database.url = tenure::config::DatabaseUrl::new(crate::common::url_of(&pool));
    let file = crate::common::daemon::write(dir.path(), "cli", &cfg);
    for run in 0..2 {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"));
        cmd.args(["--config", file.to_str().unwrap(), "network"])
            .env_remove("RUST_LOG")
            .env("TENURE__DATABASE__URL", cfg.database.url.expose());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            !err.contains("notice") && !err.contains("already exists"),
            "run {run}: {err}"
        );
    }
}

/// Rollups and raw samples move to their compact tables unchanged: the old names, now views,
/// answer exactly what the tables held (a day whose hours were pruned keeps its totals; hours
/// without their day row get one summing them).
#[sqlx::test(migrations = false)]
async fn compact_uptime_storage_keeps_every_rollup_and_sample(pool: PgPool) {
    use chrono::{DateTime, Utc};
    migrate_before(&pool, 20261203000016).await;
    let exec = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query(sql).execute(&pool).await.unwrap() }
    };
    exec(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         VALUES (1, 1, 'hk0', 0, 1, 1), (2, 1, 'hk1', 1, 1, 1)",
    )
    .await;
    // Day 20,000: hours 3 and 4 (miner 1), hour 23 (miner 2); day 20,001: miner 1's hour 0;
    // day 20,002: a day whose hours were pruned; miner 2's day 20,003: hours only.
    exec(
        "INSERT INTO uptime_hourly (netuid, miner_id, hour, started_at, rounds, up)
         SELECT 1, m, h, to_timestamp(h * 3600), r, u FROM (VALUES
             (1, 480003, 12, 11), (1, 480004, 12, 12), (2, 480023, 5, 0), (1, 480024, 3, 3),
             (2, 480074, 7, 6)) AS v(m, h, r, u)",
    )
    .await;
    exec(
        "INSERT INTO uptime_daily (netuid, miner_id, day, started_at, rounds, up)
         SELECT 1, m, d, to_timestamp(d * 86400), r, u FROM (VALUES
             (1, 20000, 24, 23), (2, 20000, 5, 0), (1, 20001, 3, 3), (1, 20002, 288, 200))
             AS v(m, d, r, u)",
    )
    .await;
    exec(
        "INSERT INTO uptime_rounds (id, netuid, source, block, observed_at, miners, up)
         VALUES (1, 1, 'probe', 10, '2026-01-01T00:00:00Z', 2, 1),
                (2, 1, 'api', 20, '2026-01-01T00:05:00Z', 1, 1)",
    )
    .await;
    exec(
        "INSERT INTO uptime_samples (round_id, miner_id, up, reported, latency_ms, compute_score, error)
         VALUES (1, 2, false, false, NULL, NULL, 'refused'), (1, 1, true, true, 41, NULL, NULL),
                (2, 1, true, true, NULL, 2.5, NULL)",
    )
    .await;
    type Hour = (i32, i64, i64, DateTime<Utc>, i32, i32);
    type Sample = (
        i64,
        i64,
        bool,
        bool,
        Option<i32>,
        Option<f64>,
        Option<String>,
    );
    let hours = "SELECT netuid, miner_id, hour, started_at, rounds, up FROM uptime_hourly
                  ORDER BY miner_id, hour";
    let days = "SELECT netuid, miner_id, day, started_at, rounds, up FROM uptime_daily
                 ORDER BY miner_id, day";
    let samples = "SELECT round_id, miner_id, up, reported, latency_ms, compute_score, error
                     FROM uptime_samples ORDER BY round_id, miner_id";
    let read = || async {
        let h: Vec<Hour> = sqlx::query_as(hours).fetch_all(&pool).await.unwrap();
        let d: Vec<Hour> = sqlx::query_as(days).fetch_all(&pool).await.unwrap();
        let s: Vec<Sample> = sqlx::query_as(samples).fetch_all(&pool).await.unwrap();
        (h, d, s)
    };
    let (hours_before, mut days_before, samples_before) = read().await;
    run_migration(&pool, "20261203000016_compact_uptime_storage.sql").await;
    let (hours_after, days_after, samples_after) = read().await;
    assert_eq!(hours_after, hours_before);
    assert_eq!(samples_after, samples_before);
    // The one difference: miner 2's day 20,003 had hours and no day row; it now has one.
    let t = DateTime::from_timestamp(20_003 * 86_400, 0).unwrap();
    days_before.push((1, 2, 20_003, t, 7, 6));
    days_before.sort_by_key(|d| (d.1, d.2));
    assert_eq!(days_after, days_before);
    let stored: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM uptime_days), (SELECT count(*) FROM uptime_round_samples)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, (5, 2), "a row per miner-day and per round");
}

/// Tranches of earlier releases, each carrying its book's keys, move to `tranches` naming a
/// `tranche_books` row; `vesting_tranches` reads back the same rows, ids and outflows are kept,
/// the id sequence goes on, and the writer and the window's load work on the result.
#[sqlx::test(migrations = false)]
async fn tranche_books_keep_every_tranche_and_its_id(pool: PgPool) {
    migrate_before(&pool, 20261203000017).await;
    sqlx::raw_sql(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         VALUES (1, 1, 'hk', 0, 0, 0);
         INSERT INTO vesting_tranches (netuid, scope, coldkey, hotkey, kind, block, initial_rao,
                                       remaining_rao, miner_id)
         VALUES (1, 'coldkey', 'ck1', '', 'emission', 10, 100, 100, 1),
                (1, 'coldkey', 'ck1', '', 'emission', 20, 50, 20, 1),
                (1, 'coldkey', 'ck2', '', 'manual', 15, 70, 70, NULL),
                (1, 'hotkey', 'ck1', 'hk', 'emission', 30, 40, 40, 1),
                (2, 'coldkey', 'ck1', '', 'emission', 12, 10, 10, 1);
         INSERT INTO tranche_outflows (tranche_id, block, amount_rao)
         SELECT id, 25, 30 FROM vesting_tranches WHERE block = 20;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let rows = |pool: PgPool| async move {
        sqlx::query_as::<
            _,
            (
                i64,
                i32,
                String,
                String,
                String,
                String,
                i64,
                i64,
                i64,
                Option<i64>,
            ),
        >(
            "SELECT id, netuid, scope, coldkey, hotkey, kind, block, initial_rao, remaining_rao,
                    miner_id FROM vesting_tranches ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = rows(pool.clone()).await;
    run_migration(&pool, "20261203000017_tranche_books.sql").await;
    assert_eq!(rows(pool.clone()).await, before);
    let books: i64 = sqlx::query_scalar("SELECT count(*) FROM tranche_books")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        books, 4,
        "ck1 and ck2 by coldkey, ck1/hk by hotkey, ck1 on netuid 2"
    );
    let outflow: (i64, i64) = sqlx::query_as(
        "SELECT t.block, o.amount_rao FROM tranche_outflows o JOIN tranches t ON t.id = o.tranche_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(outflow, (20, 30));
    // The sequence continues past the migrated ids.
    let next: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('tranches', 'id'))")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(next > before.last().unwrap().0, "{next}");
    // The writer's window sums load the emission tranches of their netuid and scope, by book.
    let tally =
        tenure::vesting::store::load_tally(&pool, 1, tenure::config::StakeScope::Coldkey, 0)
            .await
            .unwrap();
    assert_eq!(tally.len(), 2);
}

/// Held-stake rows of earlier releases, each carrying its pair's keys, move to `stakes` naming
/// a `stake_pairs` row; `stake_changes` reads back the same rows, and a row inserted into it is
/// filed under its pair (a new pair too), while a bad one stores nothing.
#[sqlx::test(migrations = false)]
async fn held_stake_rows_keep_their_pairs_and_blocks(pool: PgPool) {
    migrate_before(&pool, 20261203000019).await;
    sqlx::raw_sql(
        "INSERT INTO stake_changes (netuid, coldkey, hotkey, block, alpha_rao)
         VALUES (1, 'ck1', 'hk1', 10, 100), (1, 'ck1', 'hk1', 20, 80), (1, 'ck1', 'hk2', 10, 5),
                (1, 'ck2', 'hk1', 15, 0), (2, 'ck1', 'hk1', 10, 7)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let rows = |pool: PgPool| async move {
        sqlx::query_as::<_, (i32, String, String, i64, i64)>(
            "SELECT netuid, coldkey, hotkey, block, alpha_rao FROM stake_changes ORDER BY 1, 2, 3, 4",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = rows(pool.clone()).await;
    assert_eq!(before.len(), 5);
    run_migration(&pool, "20261203000019_stake_pairs.sql").await;
    assert_eq!(rows(pool.clone()).await, before);
    let count = |sql: &'static str| crate::common::scalar(&pool, sql);
    assert_eq!(
        count("SELECT count(*) FROM stake_pairs").await,
        4,
        "ck1/hk1, ck1/hk2 and ck2/hk1 on netuid 1, ck1/hk1 on netuid 2"
    );
    // Through the view: a known pair and a new one; a negative amount is refused whole.
    sqlx::raw_sql(
        "INSERT INTO stake_changes (netuid, coldkey, hotkey, block, alpha_rao)
         VALUES (1, 'ck1', 'hk1', 30, 60), (1, 'ck3', 'hk1', 30, 9)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let bad = sqlx::query(
        "INSERT INTO stake_changes (netuid, coldkey, hotkey, block, alpha_rao)
         VALUES (1, 'ck4', 'hk1', 30, -5)",
    )
    .execute(&pool)
    .await;
    assert!(bad.is_err());
    assert_eq!(count("SELECT count(*) FROM stake_pairs").await, 5);
    assert_eq!(count("SELECT count(*) FROM stakes").await, 7);
    let latest: i64 = sqlx::query_scalar(
        "SELECT alpha_rao FROM stake_changes WHERE netuid = 1 AND coldkey = 'ck1' AND hotkey = 'hk1'
          ORDER BY block DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(latest, 60);
}
