//! Base scores: the validator's own judgement of each miner, which tenure multiplies.
//! `api`: batches posted to `POST /v1/scores`; `table`: the validator writes `base_scores`
//! itself; `uniform`: every registered miner 1.0. A score older than `scores.max_age_blocks`
//! is stale and never used.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use sqlx::{PgConnection, PgPool};

use crate::config::ScoresSource;

/// Scores per batch at most (a subnet has at most 4,096 uids; room for resubmissions).
pub const MAX_BATCH: usize = 16_384;

/// `hotkey → score` pairs in the order given, duplicates kept so they can be refused (a JSON
/// object with a repeated key would otherwise silently keep the last one).
#[derive(Debug, Clone, PartialEq)]
pub struct Pairs(pub Vec<(String, f64)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of hotkey → score")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some((k, v)) = m.next_entry::<String, f64>()? {
                    out.push((k, v));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The body of `POST /v1/scores`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ScoresBatch)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// `{"<hotkey>": score, ...}`: finite, at least 0, each hotkey once.
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    pub scores: Pairs,
}

/// Why a batch is refused (nothing of it is stored).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    #[error("the batch has no scores")]
    Empty,
    #[error("the batch has {0} scores; at most {MAX_BATCH} per request")]
    TooLarge(usize),
    #[error("hotkey {0} appears more than once")]
    Duplicate(String),
    #[error("score of {hotkey} is {score}: scores must be finite, >= 0 and <= {MAX_SCORE:e}")]
    Invalid { hotkey: String, score: f64 },
    #[error("{} hotkeys are not registered on the subnet: {}", .0.len(), .0.iter().take(5).cloned().collect::<Vec<_>>().join(", "))]
    Unknown(Vec<String>),
}

/// The largest base score accepted: far above any real scoring scale, and small enough that
/// `score × every multiplier` (at most `weights.max_total_multiplier`, ≤ 100) and the sums of
/// the normalization stay finite for any subnet size.
pub const MAX_SCORE: f64 = 1e12;

/// Finite, non-negative and at most [`MAX_SCORE`].
pub fn valid_score(score: f64) -> bool {
    score.is_finite() && (0.0..=MAX_SCORE).contains(&score)
}

/// Checks a batch against the registered hotkeys; refuses it whole on the first problem.
pub fn validate(batch: &Batch, registered: &HashSet<String>) -> Result<(), BatchError> {
    let pairs = &batch.scores.0;
    if pairs.is_empty() {
        return Err(BatchError::Empty);
    }
    if pairs.len() > MAX_BATCH {
        return Err(BatchError::TooLarge(pairs.len()));
    }
    let mut seen = HashSet::with_capacity(pairs.len());
    for (hotkey, score) in pairs {
        if !seen.insert(hotkey.as_str()) {
            return Err(BatchError::Duplicate(hotkey.clone()));
        }
        if !valid_score(*score) {
            return Err(BatchError::Invalid {
                hotkey: hotkey.clone(),
                score: *score,
            });
        }
    }
    let unknown: Vec<String> = pairs
        .iter()
        .filter(|(h, _)| !registered.contains(h))
        .map(|(h, _)| h.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(BatchError::Unknown(unknown));
    }
    Ok(())
}

/// Stores an accepted batch as of `block`, in one statement.
pub async fn store(
    pool: &PgPool,
    netuid: u16,
    block: u64,
    pairs: &[(String, f64)],
) -> Result<u64, sqlx::Error> {
    let (hotkeys, scores): (Vec<&str>, Vec<f64>) =
        pairs.iter().map(|(h, s)| (h.as_str(), *s)).unzip();
    let done = sqlx::query(
        "INSERT INTO base_scores (netuid, hotkey, score, block, source, updated_at)
         SELECT $1, h, s, $4, 'api', now() FROM UNNEST($2::text[], $3::float8[]) AS t(h, s)
         ON CONFLICT (netuid, hotkey) DO UPDATE
            SET score = EXCLUDED.score, block = EXCLUDED.block, source = 'api',
                updated_at = now()",
    )
    .bind(i32::from(netuid))
    .bind(&hotkeys)
    .bind(&scores)
    .bind(block as i64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The base scores usable at `head`, and what the freshest score is when none is.
#[derive(Debug, Clone, PartialEq)]
pub struct Fresh {
    /// hotkey → (score, block); `uniform` has no rows.
    pub scores: HashMap<String, (f64, u64)>,
    pub stale: usize,
    /// The block of the newest score, fresh or not.
    pub newest: Option<u64>,
}

impl Fresh {
    /// Why there is nothing to submit, when there is not.
    pub fn none_reason(&self, source: ScoresSource, head: u64, max_age: u64) -> Option<String> {
        Freshness {
            fresh: self.scores.len(),
            newest: self.newest,
        }
        .none_reason(source, head, max_age)
    }
}

/// How many base scores are fresh, and the block of the newest: what readiness needs at every
/// head, without reading the scores themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Freshness {
    pub fresh: usize,
    pub newest: Option<u64>,
}

impl Freshness {
    /// Why there is nothing to submit, when there is not.
    pub fn none_reason(&self, source: ScoresSource, head: u64, max_age: u64) -> Option<String> {
        if source == ScoresSource::Uniform || self.fresh > 0 {
            return None;
        }
        Some(match self.newest {
            None => format!(
                "no base score yet (scores.source = {}): weights are not submitted",
                source.name()
            ),
            Some(b) => format!(
                "no fresh base score: the newest is {} blocks old (block {b}), scores.max_age_blocks = {max_age}: weights are not submitted",
                head.saturating_sub(b)
            ),
        })
    }
}

/// The row name of a score source (`None` for uniform, which has no rows).
fn row_source(source: ScoresSource) -> Option<&'static str> {
    match source {
        ScoresSource::Uniform => None,
        ScoresSource::Api => Some("api"),
        ScoresSource::Table => Some("table"),
    }
}

pub async fn freshness(
    pool: &PgPool,
    netuid: u16,
    source: ScoresSource,
    head: u64,
    max_age: u64,
) -> Result<Freshness, sqlx::Error> {
    let Some(wanted) = row_source(source) else {
        return Ok(Freshness {
            fresh: 0,
            newest: None,
        });
    };
    let (fresh, newest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE block >= $3), max(block) FROM base_scores
          WHERE netuid = $1 AND source = $2",
    )
    .bind(i32::from(netuid))
    .bind(wanted)
    .bind(head.saturating_sub(max_age) as i64)
    .fetch_one(pool)
    .await?;
    Ok(Freshness {
        fresh: fresh.max(0) as usize,
        newest: newest.map(|b| b.max(0) as u64),
    })
}

pub async fn fresh(
    tx: &mut PgConnection,
    netuid: u16,
    source: ScoresSource,
    head: u64,
    max_age: u64,
) -> Result<Fresh, sqlx::Error> {
    let Some(wanted) = row_source(source) else {
        return Ok(Fresh {
            scores: HashMap::new(),
            stale: 0,
            newest: None,
        });
    };
    let rows: Vec<(String, f64, i64)> = sqlx::query_as(
        "SELECT hotkey, score, block FROM base_scores WHERE netuid = $1 AND source = $2",
    )
    .bind(i32::from(netuid))
    .bind(wanted)
    .fetch_all(&mut *tx)
    .await?;
    let oldest_fresh = head.saturating_sub(max_age);
    let newest = rows.iter().map(|r| r.2 as u64).max();
    let mut scores = HashMap::with_capacity(rows.len());
    let mut stale = 0;
    for (hotkey, score, block) in rows {
        // The table source is written by the validator directly: the API's bound holds there
        // too, or the step fails loudly (and readiness with it) instead of weighting with inf.
        if !valid_score(score) {
            return Err(sqlx::Error::Decode(
                format!(
                    "base_scores holds {score} for {hotkey}: scores must be finite, >= 0 and <= {MAX_SCORE:e}"
                )
                .into(),
            ));
        }
        let block = block.max(0) as u64;
        if block >= oldest_fresh {
            scores.insert(hotkey, (score, block));
        } else {
            stale += 1;
        }
    }
    Ok(Fresh {
        scores,
        stale,
        newest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(json: &str) -> Batch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn duplicates_unknowns_and_bad_scores_are_refused() {
        let reg: HashSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            validate(&batch(r#"{"scores":{"a":1,"b":0.5}}"#), &reg),
            Ok(())
        );
        assert_eq!(
            validate(&batch(r#"{"scores":{"a":1,"a":2}}"#), &reg),
            Err(BatchError::Duplicate("a".into()))
        );
        assert!(matches!(
            validate(&batch(r#"{"scores":{"a":-1}}"#), &reg),
            Err(BatchError::Invalid { .. })
        ));
        assert_eq!(
            validate(&batch(r#"{"scores":{"a":1,"zz":2}}"#), &reg),
            Err(BatchError::Unknown(vec!["zz".into()]))
        );
        assert_eq!(
            validate(&batch(r#"{"scores":{}}"#), &reg),
            Err(BatchError::Empty)
        );
        // JSON has no NaN or infinity: an out-of-range number does not even parse.
        assert!(serde_json::from_str::<Batch>(r#"{"scores":{"a":1e999}}"#).is_err());
        assert!(serde_json::from_str::<Batch>(r#"{"scores":{"a":"1"}}"#).is_err());
        assert!(serde_json::from_str::<Batch>(r#"{"scores":{},"x":1}"#).is_err());
    }

    #[test]
    fn freshness_reasons_name_the_age() {
        let f = Fresh {
            scores: HashMap::new(),
            stale: 3,
            newest: Some(100),
        };
        let r = f.none_reason(ScoresSource::Api, 900, 720).unwrap();
        assert!(r.contains("800 blocks old"), "{r}");
        assert_eq!(f.none_reason(ScoresSource::Uniform, 900, 720), None);
    }
}
