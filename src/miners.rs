//! Every registered miner on one line (`tenure miners`, `GET /v1/miners`): who it is (uid,
//! hotkey, owner, registration), its uptime and vesting at the latest epoch each engine
//! recorded, and its total multiplier and weight share in the latest weights planned. Each
//! column says what tenure last recorded; nothing is recomputed here.

use sqlx::{PgPool, Row};

use crate::units::NetUid;

/// One miner.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Miner {
    pub uid: u16,
    pub hotkey: String,
    /// The owner now (`None` before its owner was read).
    pub coldkey: Option<String>,
    pub registered_at_block: u64,
    pub current_uptime: Option<f64>,
    pub historical_uptime: Option<f64>,
    pub uptime_multiplier: Option<f64>,
    pub holding_fraction: Option<f64>,
    pub holding_days: Option<f64>,
    pub vesting_multiplier: Option<f64>,
    /// uptime × vesting × penalty after the cap, in the latest weights planned.
    pub total_multiplier: Option<f64>,
    /// The normalized weight (the share of the validator's weights) in the latest weights.
    pub weight_share: Option<f64>,
}

/// The miners, and the epochs their figures come from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Miners {
    pub netuid: u16,
    /// Epoch block of the uptime and vesting figures (`None`: none recorded yet).
    pub uptime_epoch: Option<u64>,
    pub vesting_epoch: Option<u64>,
    /// Chain epoch index of the weights the multiplier and share come from.
    pub weights_epoch: Option<u64>,
    pub miners: Vec<Miner>,
}

pub async fn list(pool: &PgPool, netuid: NetUid) -> Result<Miners, sqlx::Error> {
    let n = i32::from(netuid);
    let (uptime, vesting, weights): (Option<i64>, Option<i64>, Option<(i64, i64)>) = {
        let u =
            sqlx::query_scalar("SELECT max(epoch_block) FROM uptime_multipliers WHERE netuid = $1")
                .bind(n)
                .fetch_one(pool)
                .await?;
        let v = sqlx::query_scalar(
            "SELECT max(epoch_block) FROM vesting_multipliers WHERE netuid = $1",
        )
        .bind(n)
        .fetch_one(pool)
        .await?;
        // The latest plan with entries (a `missed` epoch has none).
        let w = sqlx::query_as(
            "SELECT id, epoch_index FROM weight_submissions s
              WHERE netuid = $1 AND EXISTS (SELECT 1 FROM weight_entries e WHERE e.submission_id = s.id)
              ORDER BY epoch_index DESC, mechid LIMIT 1",
        )
        .bind(n)
        .fetch_optional(pool)
        .await?;
        (u, v, w)
    };
    let rows = sqlx::query(
        "SELECT m.uid, m.hotkey, o.coldkey, m.registered_at_block,
                um.current_uptime, um.historical_uptime, um.multiplier,
                vm.holding_fraction, vm.holding_days, vm.multiplier,
                we.total_multiplier, we.normalized_weight
           FROM miners m
           LEFT JOIN hotkey_owners o
                  ON o.netuid = m.netuid AND o.hotkey = m.hotkey AND o.to_block IS NULL
           LEFT JOIN uptime_multipliers um
                  ON um.netuid = m.netuid AND um.epoch_block = $2 AND um.miner_id = m.id
           LEFT JOIN vesting_multipliers vm
                  ON vm.netuid = m.netuid AND vm.epoch_block = $3 AND vm.miner_id = m.id
           LEFT JOIN weight_entries we
                  ON we.submission_id = $4 AND we.uid = m.uid AND we.hotkey = m.hotkey
          WHERE m.netuid = $1 AND m.deregistered_at_block IS NULL
          ORDER BY m.uid",
    )
    .bind(n)
    .bind(uptime)
    .bind(vesting)
    .bind(weights.map(|w| w.0))
    .fetch_all(pool)
    .await?;
    let miners = rows
        .iter()
        .map(|r| {
            Ok(Miner {
                uid: r.try_get::<i32, _>(0)? as u16,
                hotkey: r.try_get(1)?,
                coldkey: r.try_get(2)?,
                registered_at_block: r.try_get::<i64, _>(3)? as u64,
                current_uptime: r.try_get(4)?,
                historical_uptime: r.try_get(5)?,
                uptime_multiplier: r.try_get(6)?,
                holding_fraction: r.try_get(7)?,
                holding_days: r.try_get(8)?,
                vesting_multiplier: r.try_get(9)?,
                total_multiplier: r.try_get(10)?,
                weight_share: r.try_get(11)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Miners {
        netuid,
        uptime_epoch: uptime.map(|b| b as u64),
        vesting_epoch: vesting.map(|b| b as u64),
        weights_epoch: weights.map(|w| w.1 as u64),
        miners,
    })
}

/// The miners as a table for the terminal.
pub fn text(m: &Miners) -> String {
    let at = |e: Option<u64>| e.map_or("none yet".to_string(), |e| e.to_string());
    let mut out = format!(
        "{} miners on netuid {}; uptime at epoch block {}, vesting at {}, weights of epoch {}\n",
        m.miners.len(),
        m.netuid,
        at(m.uptime_epoch),
        at(m.vesting_epoch),
        at(m.weights_epoch)
    );
    out += &format!(
        "{:>5}  {:<48}  {:<48}  {:>10}  {:>8}  {:>7}  {:>7}  {:>6}  {:>7}  {:>7}  {:>8}\n",
        "uid",
        "hotkey",
        "coldkey",
        "reg.block",
        "uptime",
        "up ×",
        "held",
        "days",
        "vest ×",
        "total ×",
        "share"
    );
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0));
    let f = |x: Option<f64>, d: usize| x.map_or("-".to_string(), |x| format!("{x:.d$}"));
    for r in &m.miners {
        out += &format!(
            "{:>5}  {:<48}  {:<48}  {:>10}  {:>8}  {:>7}  {:>7}  {:>6}  {:>7}  {:>7}  {:>8}\n",
            r.uid,
            r.hotkey,
            r.coldkey.as_deref().unwrap_or("-"),
            r.registered_at_block,
            pct(r.current_uptime),
            f(r.uptime_multiplier, 4),
            pct(r.holding_fraction),
            f(r.holding_days, 1),
            f(r.vesting_multiplier, 4),
            f(r.total_multiplier, 4),
            pct(r.weight_share),
        );
    }
    out
}
