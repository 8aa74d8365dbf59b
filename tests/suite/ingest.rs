//! End to end: the real `tenure run` binary ingests a devnet chain with scripted behaviour
//! (emissions, buys, partial and full sells, moves, a re-registration, an owner change, a
//! coldkey swap, a hotkey swap) over more than five epochs, with a runtime upgrade to the v2
//! share-pool layout in the middle; the database is compared with an
//! independent computation from the devnet's ledger. Then the same chain is ingested again
//! while the daemon is SIGKILLed at ten random moments, and both databases must be equal.

use crate::common;
use crate::common::empty_block as block;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sqlx::{PgPool, Row};
use tenure::config::{Config, StakeScope};
use tenure_devnet::{Devnet, DevnetArgs};

const HALT: u64 = 75;
const VALIDATORS: u64 = 2;

const SCENARIO: &str = r#"
{"block": 3, "action": "buy", "uid": 3, "alpha": 5000000000}
{"block": 10, "action": "sell", "uid": 3, "alpha": 2000000000}
{"block": 12, "action": "move", "uid": 4, "to_uid": 5, "alpha": 1000000000}
{"block": 18, "action": "sell", "uid": 4, "alpha": 100000000}
{"block": 20, "action": "sell", "uid": 6}
{"block": 22, "action": "reregister", "uid": 7}
{"block": 25, "action": "change_owner", "uid": 4}
{"block": 31, "action": "swap_coldkey", "uid": 5}
{"block": 33, "action": "buy", "uid": 5, "alpha": 3000000000}
{"block": 41, "action": "swap_hotkey", "uid": 6}
{"block": 45, "action": "sell", "uid": 3}
{"block": 50, "action": "buy", "uid": 3, "alpha": 700000000}
{"block": 58, "action": "sell", "uid": 8, "alpha": 1}
"#;

async fn devnet(dir: &Path) -> (Devnet, PathBuf) {
    let scenario = dir.join("scenario.jsonl");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let ledger = dir.join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 5,
        finality_lag: 2,
        seed: 77,
        netuid: 1,
        miners: 8,
        validators: VALIDATORS as u16,
        tempo: 9,
        activity: 25,
        halt_at: HALT,
        // A runtime upgrade to the v2 share layout mid-run: balances may move by a RAO.
        upgrade_at: 40,
        scenario: Some(scenario),
        ledger: Some(ledger.clone()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    while devnet.node.chain().finalized < HALT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (devnet, ledger)
}

fn config(dir: &Path, name: &str, chain: &str, db: &str) -> (PathBuf, Config) {
    config_with(dir, name, chain, db, StakeScope::Coldkey)
}

/// Probes are off (`uptime.sources = ["api"]`): their rounds depend on wall-clock timing, and
/// both databases of the kill test must be equal. No HTTP: ingestion alone.
fn config_with(
    dir: &Path,
    name: &str,
    chain: &str,
    db: &str,
    scope: StakeScope,
) -> (PathBuf, Config) {
    let mut c = common::daemon::config(chain, db, 1);
    c.http.enabled = false;
    c.vesting.stake_scope = scope;
    (common::daemon::write(dir, name, &c), c)
}

fn spawn((file, config): &(PathBuf, Config)) -> Child {
    common::daemon::spawn(file, config)
}

pub(crate) async fn cursor(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("SELECT block_number FROM ingest_cursor WHERE netuid = 1")
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
}

pub(crate) async fn wait_for_cursor(pool: &PgPool, target: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while cursor(pool).await != Some(target as i64) {
        assert!(Instant::now() < deadline, "cursor did not reach {target}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "tenure did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn s(v: &Json) -> String {
    v.as_str().unwrap().to_string()
}

fn u(v: &Json) -> u64 {
    v.as_u64().unwrap()
}

type TrancheRow = (String, String, String, u64, u64, u64);

/// (coldkey, hotkey or "", kind, block, initial, remaining) of every tranche, computed from the
/// ledger alone; `hotkey_scope` keeps one book per (coldkey, hotkey) instead of per coldkey.
fn tranches_from_ledger(lines: &[Json], hotkey_scope: bool) -> BTreeSet<TrancheRow> {
    common::ledger::replay(lines, hotkey_scope, VALIDATORS, |_, _| {})
        .into_iter()
        .flat_map(|((c, h), ts)| {
            ts.into_iter().map(move |t| {
                (
                    c.clone(),
                    h.clone(),
                    t.kind.to_string(),
                    t.block,
                    t.initial,
                    t.remaining,
                )
            })
        })
        .collect()
}

async fn db_tranches(pool: &PgPool) -> BTreeSet<TrancheRow> {
    sqlx::query(
        "SELECT coldkey, hotkey, kind, block, initial_rao, remaining_rao FROM vesting_tranches WHERE netuid = 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get::<i64, _>(3) as u64,
            r.get::<i64, _>(4) as u64,
            r.get::<i64, _>(5) as u64,
        )
    })
    .collect()
}

/// Every table ingestion writes, without surrogate ids and wall-clock times.
pub(crate) async fn dump(pool: &PgPool) -> Vec<String> {
    let queries = [
        "SELECT number, encode(hash, 'hex'), timestamp_ms, spec_version, epoch_ran, rows_written FROM blocks ORDER BY number",
        "SELECT block_number, first_block FROM ingest_cursor",
        "SELECT block, epoch_index, tempo FROM epochs ORDER BY block",
        "SELECT uid, hotkey, registered_at_block, first_seen_block, deregistered_at_block FROM miners ORDER BY uid, registered_at_block, hotkey",
        "SELECT m.uid, m.hotkey, p.block, p.permitted FROM validator_permits p JOIN miners m ON m.id = p.miner_id ORDER BY 1, 2, 3",
        "SELECT hotkey, coldkey, from_block, to_block, reason FROM hotkey_owners ORDER BY 1, 3",
        "SELECT block, old_coldkey, new_coldkey FROM coldkey_swaps ORDER BY 1, 2",
        "SELECT block, old_hotkey, new_hotkey FROM hotkey_swaps ORDER BY 1, 2",
        "SELECT coldkey, hotkey, block, alpha_rao FROM stake_changes ORDER BY 1, 2, 3",
        "SELECT epoch_block, uid, hotkey, coldkey, amount_rao, validator_permit FROM emissions ORDER BY 1, 2",
        "SELECT t.coldkey, t.kind, t.block, t.initial_rao, t.remaining_rao, m.hotkey FROM vesting_tranches t LEFT JOIN miners m ON m.id = t.miner_id ORDER BY 1, 3, 2, 4, 5",
        "SELECT t.coldkey, t.block, t.initial_rao, o.block, o.amount_rao FROM tranche_outflows o JOIN vesting_tranches t ON t.id = o.tranche_id ORDER BY 1, 2, 3, 4, 5",
        "SELECT epoch_block, mode, uid, hotkey, coldkey, earned_rao, remaining_rao, holding_fraction, holding_days, amount_tier, duration_tier, multiplier, reason FROM vesting_multipliers ORDER BY 1, 3",
        "SELECT epoch_block, mode, miners, boosted, params FROM vesting_epochs ORDER BY 1",
        "SELECT epoch_block, mode, uid, hotkey, current_uptime, historical_uptime, bonuses, multiplier FROM uptime_multipliers ORDER BY 1, 3",
        "SELECT epoch_block, mode, miners, boosted, params FROM uptime_epochs ORDER BY 1",
    ];
    let mut out = Vec::new();
    for q in queries {
        let wrapped = format!("SELECT row_to_json(x)::text FROM ({q}) x");
        for r in sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(wrapped))
            .fetch_all(pool)
            .await
            .unwrap()
        {
            out.push(r);
        }
    }
    out
}

#[sqlx::test(migrations = false)]
async fn ingests_a_scripted_chain_exactly_and_survives_sigkill(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, ledger_path) = devnet(dir.path()).await;
    let lines = common::ledger::read(&ledger_path);
    let cfg = config(dir.path(), "a", &devnet.url(), &common::url_of(&pool));
    let daemon = spawn(&cfg);
    wait_for_cursor(&pool, HALT, Duration::from_secs(120)).await;
    stop(daemon);

    // Emissions: every epoch's amount per uid, credited to the owner at the epoch block.
    let want: BTreeSet<(u64, u64, String, String, u64)> = lines
        .iter()
        .filter(|l| l["kind"] == "emission")
        .map(|l| {
            (
                u(&l["block"]),
                u(&l["uid"]),
                s(&l["hotkey"]),
                s(&l["coldkey"]),
                u(&l["amount"]),
            )
        })
        .collect();
    let got: BTreeSet<(u64, u64, String, String, u64)> = sqlx::query(
        "SELECT epoch_block, uid, hotkey, coldkey, amount_rao FROM emissions WHERE netuid = 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.get::<i64, _>(0) as u64,
            r.get::<i32, _>(1) as u64,
            r.get(2),
            r.get(3),
            r.get::<i64, _>(4) as u64,
        )
    })
    .collect();
    assert!(
        want.iter().map(|e| e.0).collect::<BTreeSet<_>>().len() >= 6,
        "six epochs"
    );
    assert_eq!(got, want);

    // Stake: every change of every (coldkey, hotkey), at the block it happened.
    let want: BTreeSet<(String, String, u64, u64)> = lines
        .iter()
        .filter(|l| l["kind"] == "stake")
        .map(|l| {
            (
                s(&l["coldkey"]),
                s(&l["hotkey"]),
                u(&l["block"]),
                u(&l["alpha"]),
            )
        })
        .collect();
    let got: BTreeSet<(String, String, u64, u64)> =
        sqlx::query("SELECT coldkey, hotkey, block, alpha_rao FROM stake_changes WHERE netuid = 1")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get::<i64, _>(2) as u64,
                    r.get::<i64, _>(3) as u64,
                )
            })
            .collect();
    assert_eq!(got, want);

    // The tranche book, exact in RAO.
    let want = tranches_from_ledger(&lines, false);
    let got = db_tranches(&pool).await;
    assert_eq!(got, want);
    assert!(
        got.iter().any(|t| t.2 == "emission" && t.5 < t.4),
        "a partly sold emission tranche"
    );

    // Identity: the re-registered uid, the owner change, the swaps.
    let reasons: BTreeSet<String> = sqlx::query_scalar("SELECT DISTINCT reason FROM hotkey_owners")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    for r in [
        "snapshot",
        "registration",
        "owner_change",
        "coldkey_swap",
        "hotkey_swap",
    ] {
        assert!(
            reasons.contains(r),
            "no owner row with reason {r}: {reasons:?}"
        );
    }
    let deregistered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM miners WHERE deregistered_at_block = 22 AND uid = 7",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(deregistered, 1);
    // Every epoch gave every miner a vesting multiplier (mode on by default).
    let (epochs, vested): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM epochs), (SELECT count(*) FROM vesting_multipliers)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(epochs >= 6, "{epochs} epochs");
    assert!(
        vested >= epochs * 8,
        "{vested} vesting rows for {epochs} epochs"
    );
    let reference = dump(&pool).await;
    eprintln!("reference: {} rows", reference.len());

    // The same chain again into a second database, killed at ten random moments.
    let (pool_b, url) = common::database(&pool, "kill").await;
    let cfg_b = config(dir.path(), "b", &devnet.url(), &url);
    // Ten kill points spread over the run: each life is killed as soon as the cursor passes its
    // point, i.e. while later blocks are being read, planned or written.
    let mut seed = 0x9e37_79b9_u64 ^ u64::from(std::process::id());
    let mut points: Vec<u64> = (0..10)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % (HALT - 2)
        })
        .collect();
    points.sort();
    let mut kills = 0;
    for point in points {
        let mut child = spawn(&cfg_b);
        let deadline = Instant::now() + Duration::from_secs(60);
        while cursor(&pool_b).await.is_none_or(|c| (c as u64) < point) {
            assert!(Instant::now() < deadline, "no progress to block {point}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let at = cursor(&pool_b).await;
        eprintln!("SIGKILL {kills} past block {point}: cursor {at:?}");
    }
    let daemon = spawn(&cfg_b);
    wait_for_cursor(&pool_b, HALT, Duration::from_secs(120)).await;
    stop(daemon);
    let after_kills = dump(&pool_b).await;
    pool_b.close().await;
    assert_eq!(kills, 10);
    assert_eq!(after_kills.len(), reference.len());
    for (a, b) in reference.iter().zip(&after_kills) {
        assert_eq!(a, b);
    }
    devnet.stop().await;
}

#[sqlx::test(migrations = false)]
async fn hotkey_scope_keeps_one_book_per_coldkey_and_hotkey(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, ledger_path) = devnet(dir.path()).await;
    let lines = common::ledger::read(&ledger_path);
    let cfg = config_with(
        dir.path(),
        "h",
        &devnet.url(),
        &common::url_of(&pool),
        StakeScope::Hotkey,
    );
    let daemon = spawn(&cfg);
    wait_for_cursor(&pool, HALT, Duration::from_secs(120)).await;
    stop(daemon);
    let want = tranches_from_ledger(&lines, true);
    let got = db_tranches(&pool).await;
    assert!(
        got.iter().all(|t| !t.1.is_empty()),
        "hotkey-scope books name their hotkey"
    );
    assert_eq!(got, want);
    // The move between miners (block 12) shows as its own book on the destination hotkey.
    let books: BTreeSet<(String, String)> =
        got.iter().map(|t| (t.0.clone(), t.1.clone())).collect();
    let coldkeys: BTreeSet<&String> = books.iter().map(|b| &b.0).collect();
    assert!(
        books.len() > coldkeys.len(),
        "some coldkey holds on two hotkeys"
    );
    devnet.stop().await;
}

/// A coldkey swapped onto a coldkey that already has a book: one person's stake, so the two
/// books become one, in the database (`tranche_books`) as in the writer's window.
#[sqlx::test]
async fn a_coldkey_swap_onto_an_existing_book_merges_the_books(pool: PgPool) {
    use tenure::chain::AccountId;
    use tenure::ingest::plan::{BookDelta, Emission};
    use tenure::ingest::store::{Memory, write};
    let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
    let hotkeys = [AccountId([3; 32]), AccountId([4; 32])];
    let mut cfg = Config::default();
    cfg.chain.netuid = 1;
    let s = tenure::ingest::Settings::from_config(&cfg);
    let mut mem = Memory::load(&pool, &s, None).await.unwrap();
    let mut w = block(1);
    w.snapshot = true;
    for (uid, (hk, ck)) in hotkeys.iter().zip([a, b]).enumerate() {
        w.registered.push((uid as u16, *hk, 0));
        w.owner_changes.insert(*hk, (ck, "snapshot"));
    }
    write(&pool, &s, &mut mem, &w).await.unwrap();
    // Both miners earn at an epoch: a tranche in each coldkey's book.
    let mut w = block(2);
    w.epoch = Some((0, 360));
    for (uid, (hk, ck)) in hotkeys.iter().zip([a, b]).enumerate() {
        let amount = 1_000 * (uid as u64 + 1);
        w.emissions.push(Emission {
            uid: uid as u16,
            hotkey: *hk,
            coldkey: ck,
            amount,
            permit: false,
        });
        w.books.push(BookDelta {
            coldkey: ck,
            hotkey: None,
            emissions: vec![(amount, uid as u16)],
            prev: 0,
            now: amount,
        });
    }
    write(&pool, &s, &mut mem, &w).await.unwrap();
    let mut w = block(3);
    w.coldkey_swaps.push((a, b));
    w.owner_changes.insert(hotkeys[0], (b, "coldkey_swap"));
    write(&pool, &s, &mut mem, &w).await.unwrap();
    // The next epoch credits both miners to the one book left.
    let mut w = block(4);
    w.epoch = Some((1, 360));
    for (uid, hk) in hotkeys.iter().enumerate() {
        w.emissions.push(Emission {
            uid: uid as u16,
            hotkey: *hk,
            coldkey: b,
            amount: 500,
            permit: false,
        });
    }
    w.books.push(BookDelta {
        coldkey: b,
        hotkey: None,
        emissions: vec![(500, 0), (500, 1)],
        prev: 3_000,
        now: 4_000,
    });
    write(&pool, &s, &mut mem, &w).await.unwrap();

    let books: Vec<(String, i64)> = sqlx::query_as(
        "SELECT b.coldkey, count(t.id) FROM tranche_books b JOIN tranches t ON t.book_id = b.id
          GROUP BY b.coldkey",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(books, [(b.to_ss58(), 4)]);
    let key = (b.to_ss58(), String::new());
    use tenure::vesting::window::WindowSums;
    let in_memory = mem.tally.sums(&key, 0, 4);
    assert_eq!((in_memory.earned, in_memory.remaining), (4_000, 4_000));
    let loaded = tenure::vesting::store::load_tally(&pool, 1, StakeScope::Coldkey, 0)
        .await
        .unwrap();
    assert_eq!(loaded.sums(&key, 0, 4), in_memory);
    assert_eq!(loaded.len(), 4);
    let (stored, count) = stored_sums(&pool, 0).await;
    assert_eq!((stored[&key.0], count), (in_memory, 4));
}

/// The coldkey-scope window's sums over the stored emission tranches of netuid 1 created at
/// or after `since`, summed here from every row (an oracle independent of `vesting::tally`),
/// and how many tranches that is.
async fn stored_sums(
    pool: &PgPool,
    since: u64,
) -> (BTreeMap<String, tenure::vesting::window::Sums>, u64) {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT coldkey, block, initial_rao, remaining_rao FROM vesting_tranches
          WHERE netuid = 1 AND scope = 'coldkey' AND kind = 'emission' AND block >= $1",
    )
    .bind(since as i64)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut sums: BTreeMap<String, tenure::vesting::window::Sums> = BTreeMap::new();
    for (coldkey, block, initial, remaining) in &rows {
        let s = sums.entry(coldkey.clone()).or_default();
        s.earned += *initial as u128;
        s.remaining += *remaining as u128;
        if *remaining > 0 {
            let block = *block as u64;
            s.oldest_held = Some(s.oldest_held.map_or(block, |o| o.min(block)));
        }
    }
    (sums, rows.len() as u64)
}

/// The planner's held stake at a restart is each (coldkey, hotkey) pair's latest row of its
/// netuid, as `DISTINCT ON` computes it (the loader jumps from pair to pair instead), with
/// pairs whose latest alpha is zero dropped.
#[sqlx::test]
async fn the_held_stake_loaded_at_a_restart_is_each_pairs_latest_row(pool: PgPool) {
    use tenure::chain::AccountId;
    let key = |i: u8| AccountId([i; 32]).to_ss58();
    // Netuids 1 and 2, three coldkeys, two hotkeys each, histories of different lengths; one
    // pair ends at zero; netuid 2's rows must not leak into netuid 1's state.
    let mut rows = Vec::new();
    for netuid in [1i32, 2] {
        for c in 1..=3u8 {
            for h in 10..=11u8 {
                for block in 0..(i64::from(c) * 3 + i64::from(h)) {
                    let alpha = if c == 2 && h == 11 && block > 5 {
                        0
                    } else {
                        1_000 * i64::from(netuid) + 10 * block + i64::from(c)
                    };
                    rows.push((netuid, key(c), key(h), block, alpha));
                }
            }
        }
    }
    for (netuid, c, h, block, alpha) in &rows {
        sqlx::query(
            "INSERT INTO stake_changes (netuid, coldkey, hotkey, block, alpha_rao)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(netuid)
        .bind(c)
        .bind(h)
        .bind(block)
        .bind(alpha)
        .execute(&pool)
        .await
        .unwrap();
    }
    let want: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (coldkey, hotkey) coldkey, hotkey, alpha_rao FROM stake_changes
          WHERE netuid = 1 ORDER BY coldkey, hotkey, block DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let want: BTreeSet<(String, String, u64)> = want
        .into_iter()
        .filter(|r| r.2 > 0)
        .map(|(c, h, a)| (c, h, a as u64))
        .collect();
    assert_eq!(want.len(), 5, "six pairs, one at zero");
    let state = tenure::ingest::store::load(&pool, 1).await.unwrap();
    let got: BTreeSet<(String, String, u64)> = state
        .holdings
        .iter()
        .map(|((c, h), a)| (c.to_ss58(), h.to_ss58(), *a))
        .collect();
    assert_eq!(got, want);
}

/// The writer keeps only each book's running sums of the vesting window (`Memory::tally`).
/// Over epochs that move the window past old tranches, outflows that empty the oldest held
/// ones, a coldkey with two miners (two tranches a block) and a coldkey swap that merges two
/// books, those sums equal what the stored tranches give at every epoch: summed here from
/// every stored row (`stored_sums`), and the start-up aggregate (`load_tally`).
#[sqlx::test]
async fn the_writers_running_sums_follow_the_stored_tranches_as_the_window_moves(pool: PgPool) {
    use tenure::chain::AccountId;
    use tenure::ingest::plan::{BookDelta, Emission};
    use tenure::ingest::store::{Memory, write};
    use tenure::vesting::store::load_tally;
    use tenure::vesting::window::WindowSums;
    let coldkeys = [AccountId([1; 32]), AccountId([2; 32]), AccountId([3; 32])];
    // Two miners on the first coldkey, one on each of the others.
    let miners: Vec<(u16, AccountId)> = [0usize, 0, 1, 2]
        .iter()
        .enumerate()
        .map(|(uid, c)| (uid as u16, coldkeys[*c]))
        .collect();
    let hotkey = |uid: u16| AccountId([10 + uid as u8; 32]);
    let mut cfg = Config::default();
    cfg.chain.netuid = 1;
    // Ten blocks a day and a window of three days: it moves 4 blocks every epoch.
    cfg.chain.block_time_secs = 8_640;
    cfg.vesting.lookback_days = 3;
    let s = tenure::ingest::Settings::from_config(&cfg);
    let mut mem = Memory::load(&pool, &s, None).await.unwrap();
    let mut w = block(1);
    w.snapshot = true;
    for (uid, ck) in &miners {
        w.registered.push((*uid, hotkey(*uid), 0));
        w.owner_changes.insert(hotkey(*uid), (*ck, "snapshot"));
    }
    write(&pool, &s, &mut mem, &w).await.unwrap();
    let mut owner: Vec<AccountId> = miners.iter().map(|m| m.1).collect();
    let mut held: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    // A coldkey's delta in this block, from what it held before.
    fn delta<'a>(
        deltas: &'a mut BTreeMap<[u8; 32], BookDelta>,
        held: &BTreeMap<[u8; 32], u64>,
        ck: AccountId,
    ) -> &'a mut BookDelta {
        let before = *held.get(&ck.0).unwrap_or(&0);
        deltas.entry(ck.0).or_insert(BookDelta {
            coldkey: ck,
            hotkey: None,
            emissions: Vec::new(),
            prev: before,
            now: before,
        })
    }
    let mut checked = 0;
    for number in 2..=120u64 {
        let mut w = block(number);
        if number == 60 {
            // The third coldkey is swapped onto the second: one book from then on.
            w.coldkey_swaps.push((coldkeys[2], coldkeys[1]));
            w.owner_changes
                .insert(hotkey(3), (coldkeys[1], "coldkey_swap"));
            owner[3] = coldkeys[1];
            let moved = held.remove(&coldkeys[2].0).unwrap_or(0);
            *held.entry(coldkeys[1].0).or_default() += moved;
        }
        let epoch = number % 4 == 0;
        let mut deltas: BTreeMap<[u8; 32], BookDelta> = BTreeMap::new();
        if epoch {
            w.epoch = Some((number / 4, 3));
            for (uid, _) in &miners {
                let amount = 100 + 37 * number + 11 * u64::from(*uid);
                let ck = owner[usize::from(*uid)];
                w.emissions.push(Emission {
                    uid: *uid,
                    hotkey: hotkey(*uid),
                    coldkey: ck,
                    amount,
                    permit: false,
                });
                let d = delta(&mut deltas, &held, ck);
                d.emissions.push((amount, *uid));
                d.now += amount;
            }
        }
        // Sales: some small (the newest tranches), some of nearly everything (down to the
        // oldest held one), some of everything (no tranche holds anything).
        if number % 7 == 3 || number % 11 == 2 || number % 13 == 5 {
            let d = delta(&mut deltas, &held, coldkeys[(number % 2) as usize]);
            let sell = match (number % 11, number % 13) {
                (_, 5) => d.now,
                (2, _) => d.now - d.now / 20,
                _ => d.now / 5,
            };
            d.now -= sell;
        }
        for (ck, d) in deltas {
            held.insert(ck, d.now);
            w.books.push(d);
        }
        write(&pool, &s, &mut mem, &w).await.unwrap();
        if !epoch {
            continue;
        }
        let since = tenure::vesting::epoch::Params::new(&cfg.vesting, 8_640, number).since();
        let (stored, count) = stored_sums(&pool, since).await;
        let loaded = load_tally(&pool, 1, StakeScope::Coldkey, since)
            .await
            .unwrap();
        assert_eq!(mem.tally.len(), count, "block {number}");
        assert_eq!(loaded.len(), count, "block {number}");
        for ck in &coldkeys {
            let key = (ck.to_ss58(), String::new());
            let kept = mem.tally.sums(&key, since, number);
            let oracle = stored.get(&key.0).copied().unwrap_or_default();
            assert_eq!(kept, oracle, "block {number}, {key:?}");
            assert_eq!(
                kept,
                loaded.sums(&key, since, number),
                "block {number}, {key:?}"
            );
            checked += usize::from(kept.oldest_held.is_some_and(|o| o > since));
        }
    }
    // The window did move past held tranches, and the sums followed.
    assert!(checked > 10, "{checked}");
}
