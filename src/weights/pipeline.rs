//! One epoch's weights from plain data: `base × uptime × vesting × penalty` per miner, the
//! multiplier product clamped to `weights.max_total_multiplier`, validators and exempt uids
//! untouched (their base score, multiplier 1.0), then the SDK's conversion
//! ([`super::normalize::emit`]). Pure: the inputs are loaded by [`super::inputs`].

use super::explanation::{
    Applied, BaseScore, Clamp, Explanation, Note, PenaltyWhy, UptimeWhy, VestingWhy,
};
use super::normalize::{self, Emitted, WeightsError};
use crate::config::ScoresSource;

/// One factor of the product and what earned it: what weights are multiplied by (1.0 in shadow
/// and off modes) and the recorded reasons.
pub type Factor<W> = Applied<W>;

/// A neutral factor (1.0) and its note.
pub fn neutral<W: From<Note>>(why: &str) -> Factor<W> {
    Applied {
        applied: 1.0,
        why: W::from(Note { note: why.into() }),
    }
}

impl From<Note> for UptimeWhy {
    fn from(n: Note) -> Self {
        UptimeWhy::Neutral(n)
    }
}

impl From<Note> for VestingWhy {
    fn from(n: Note) -> Self {
        VestingWhy::Neutral(n)
    }
}

impl From<Note> for PenaltyWhy {
    fn from(n: Note) -> Self {
        PenaltyWhy::Neutral(n)
    }
}

/// Why an entry's multipliers were not applied, as stored in its explanation.
pub const UNTOUCHED_VALIDATOR: &str = "validator permit: multipliers not applied";
pub const UNTOUCHED_EXEMPT: &str = "weights.exempt_uids: multipliers not applied";

/// A base score and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    pub score: f64,
    /// The block it is as of (`None` for the uniform source).
    pub block: Option<u64>,
    pub source: ScoresSource,
}

/// One registered uid.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub uid: u16,
    pub hotkey: String,
    pub miner_id: Option<i64>,
    pub validator: bool,
    pub exempt: bool,
    /// `None`: no fresh base score, the miner's weight is 0.
    pub base: Option<Base>,
    pub uptime: Factor<UptimeWhy>,
    pub vesting: Factor<VestingWhy>,
    pub penalty: Factor<PenaltyWhy>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub max_total_multiplier: f64,
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
}

/// One uid's weight, explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub input: Input,
    /// Multipliers as applied: 1.0 for validators and exempt uids.
    pub uptime: f64,
    pub vesting: f64,
    pub penalty: f64,
    /// `uptime · vesting · penalty` after the clamp.
    pub total: f64,
    pub clamped: bool,
    /// `base · total`: what the SDK conversion receives.
    pub raw: f64,
    /// This uid's share of the vector that was converted to u16 (after the clip and padding).
    pub normalized: f64,
    /// The u16 value submitted (0: dropped).
    pub value: u16,
}

impl Entry {
    /// The per-miner explanation stored with the submission and shown by `weights explain`.
    pub fn explain(&self, max_total: f64) -> Explanation {
        let untouched = if self.input.validator {
            Some(UNTOUCHED_VALIDATOR)
        } else if self.input.exempt {
            Some(UNTOUCHED_EXEMPT)
        } else {
            None
        };
        let base = match &self.input.base {
            Some(b) => BaseScore::Scored {
                score: b.score,
                block: b.block,
                source: b.source,
            },
            None => BaseScore::Missing {
                score: 0.0,
                note: "no fresh base score: weight 0".into(),
            },
        };
        Explanation {
            base,
            untouched: untouched.map(str::to_string),
            uptime: Applied {
                applied: self.uptime,
                why: self.input.uptime.why.clone(),
            },
            vesting: Applied {
                applied: self.vesting,
                why: self.input.vesting.why.clone(),
            },
            penalty: Applied {
                applied: self.penalty,
                why: self.input.penalty.why.clone(),
            },
            product: self.uptime * self.vesting * self.penalty,
            clamp: Clamp {
                max_total_multiplier: max_total,
                clamped: self.clamped,
            },
            total_multiplier: self.total,
            raw_weight: self.raw,
            normalized_weight: self.normalized,
            weight_u16: self.value,
        }
    }
}

/// The epoch's vectors and every entry behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub entries: Vec<Entry>,
    pub emitted: Emitted,
}

impl Plan {
    pub fn uids(&self) -> &[u16] {
        &self.emitted.conformed.uids
    }
    pub fn weights(&self) -> &[u16] {
        &self.emitted.conformed.weights
    }
}

/// Computes the epoch's weights; `inputs` are every registered uid.
pub fn compute(p: &Params, mut inputs: Vec<Input>) -> Result<Plan, WeightsError> {
    inputs.sort_by_key(|i| i.uid);
    let mut entries: Vec<Entry> = inputs
        .into_iter()
        .map(|input| {
            let adjusted = !(input.validator || input.exempt);
            let (u, v, pen) = if adjusted {
                (
                    input.uptime.applied,
                    input.vesting.applied,
                    input.penalty.applied,
                )
            } else {
                (1.0, 1.0, 1.0)
            };
            let product = u * v * pen;
            let clamped = product > p.max_total_multiplier;
            let total = product.min(p.max_total_multiplier);
            let raw = input.base.as_ref().map_or(0.0, |b| b.score) * total;
            Entry {
                input,
                uptime: u,
                vesting: v,
                penalty: pen,
                total,
                clamped,
                raw,
                normalized: 0.0,
                value: 0,
            }
        })
        .collect();
    let uids: Vec<u16> = entries.iter().map(|e| e.input.uid).collect();
    let raw: Vec<f64> = entries.iter().map(|e| e.raw).collect();
    let emitted = normalize::emit(&uids, &raw, p.min_allowed_weights, p.max_weights_limit)?;
    // The vector the u16 values were computed from: padded, then clipped, as the SDK did.
    let converted: Vec<f64> = match (&emitted.conformed.clipped, &emitted.padding) {
        (Some(c), _) => c.clone(),
        (None, Some(pad)) => pad.padded.clone(),
        (None, None) => raw,
    };
    let sum = normalize::py_sum(converted.iter().copied());
    let mut values = emitted
        .conformed
        .uids
        .iter()
        .zip(&emitted.conformed.weights)
        .peekable();
    for (e, f) in entries.iter_mut().zip(&converted) {
        e.normalized = if sum > 0.0 { f / sum } else { 0.0 };
        if let Some((_, w)) = values.next_if(|(u, _)| **u == e.input.uid) {
            e.value = *w;
        }
    }
    Ok(Plan { entries, emitted })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner(uid: u16, base: f64, u: f64, v: f64) -> Input {
        Input {
            uid,
            hotkey: format!("hk{uid}"),
            miner_id: Some(i64::from(uid)),
            validator: false,
            exempt: false,
            base: Some(Base {
                score: base,
                block: Some(1),
                source: ScoresSource::Api,
            }),
            uptime: Factor {
                applied: u,
                ..neutral("test")
            },
            vesting: Factor {
                applied: v,
                ..neutral("test")
            },
            penalty: neutral("off"),
        }
    }

    const P: Params = Params {
        max_total_multiplier: 3.0,
        min_allowed_weights: 0,
        max_weights_limit: u16::MAX,
    };

    #[test]
    fn multipliers_multiply_and_the_product_is_clamped() {
        let plan = compute(
            &P,
            vec![
                miner(2, 1.0, 1.0, 1.0),
                miner(0, 1.0, 2.0, 1.5),
                miner(1, 1.0, 2.0, 2.0),
            ],
        )
        .unwrap();
        let e: Vec<_> = plan.entries.iter().map(|e| (e.total, e.clamped)).collect();
        assert_eq!(e, vec![(3.0, false), (3.0, true), (1.0, false)]);
        assert_eq!(plan.uids(), &[0, 1, 2]);
        assert_eq!(plan.weights(), &[65535, 65535, 21845]);
        assert!((plan.entries[2].normalized - 1.0 / 7.0).abs() < 1e-15);
    }

    #[test]
    fn validators_and_exempt_uids_keep_their_base() {
        let mut v = miner(0, 2.0, 3.0, 3.0);
        v.validator = true;
        let mut x = miner(1, 1.0, 2.0, 1.0);
        x.exempt = true;
        let plan = compute(&P, vec![v, x, miner(2, 1.0, 2.0, 1.0)]).unwrap();
        assert_eq!(
            plan.entries.iter().map(|e| e.total).collect::<Vec<_>>(),
            vec![1.0, 1.0, 2.0]
        );
        assert_eq!(plan.weights(), &[65535, 32768, 65535]);
        let explained = plan.entries[0].explain(3.0);
        assert!(explained.untouched.is_some());
        // What is stored reads back as the same explanation.
        let stored = serde_json::to_string(&explained).unwrap();
        assert_eq!(
            serde_json::from_str::<Explanation>(&stored).unwrap(),
            explained
        );
    }

    #[test]
    fn a_miner_without_a_fresh_score_weighs_nothing() {
        let mut m = miner(1, 0.0, 2.0, 2.0);
        m.base = None;
        let plan = compute(&P, vec![miner(0, 1.0, 1.0, 1.0), m]).unwrap();
        assert_eq!(plan.uids(), &[0]);
        assert_eq!(plan.entries[1].value, 0);
        assert_eq!(plan.entries[1].raw, 0.0);
    }

    #[test]
    fn too_few_weights_are_padded_and_explained() {
        let p = Params {
            min_allowed_weights: 3,
            ..P
        };
        let mut inputs = vec![miner(0, 1.0, 1.0, 1.0)];
        for uid in 1..4 {
            let mut m = miner(uid, 0.0, 1.0, 1.0);
            m.base = None;
            inputs.push(m);
        }
        let plan = compute(&p, inputs).unwrap();
        assert_eq!(plan.uids(), &[0, 1, 2, 3]);
        assert!(plan.emitted.padding.is_some());
        assert!(plan.entries.iter().all(|e| e.value >= 1));
    }
}
