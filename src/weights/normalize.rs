//! The conversion of float weights into the u16 vectors the chain stores, bit for bit as the
//! Bittensor SDK 11.3 does it (`bittensor/intents/weights.py`: `SetWeights` → `_conform` →
//! `clip_to_max_weight`, `normalize`), plus SDK 10's padding for subnets whose
//! `MinAllowedWeights` would otherwise refuse the vector. Golden vectors computed by the SDK
//! itself are in `tests/fixtures/sdk_weights.json` (`scripts/sdk-golden-vectors.py`).
//!
//! Every operation below is in the SDK's order on binary64, because a different order changes
//! the last bits, and the last bits decide round-half-to-even ties.

use serde::Serialize;

pub const U16_MAX: u16 = u16::MAX;
/// The weight SDK 10's `process_weights` gave every uid when too few were non-zero.
pub const PAD: f64 = 1e-5;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    #[error("{uids} uids but {weights} weights")]
    LengthMismatch { uids: usize, weights: usize },
    #[error("weight of uid {uid} is {value}: weights must be finite and >= 0")]
    Invalid { uid: u16, value: f64 },
    #[error("uid {0} appears twice")]
    DuplicateUid(u16),
    #[error("all weights are zero; nothing to set")]
    AllZero,
    #[error(
        "the subnet requires at least {need} weights; only {have} are non-zero after normalization"
    )]
    TooFew { have: usize, need: usize },
    /// The lab's replayed or simulated tranche window (the daemon's own fails its block write).
    #[error("the tranche window: {0}")]
    Window(#[from] crate::vesting::window::WindowError),
}

/// Python's `sum()` of floats: since 3.12 compensated (Neumaier), and identical to the plain sum
/// on every golden vector generated with 3.11 as well.
pub fn py_sum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0_f64, 0.0_f64);
    for x in xs {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            c += (sum - t) + x;
        } else {
            c += (x - t) + sum;
        }
        sum = t;
    }
    if c != 0.0 && c.is_finite() {
        sum + c
    } else {
        sum
    }
}

fn check(uids: &[u16], weights: &[f64]) -> Result<(), WeightsError> {
    if uids.len() != weights.len() {
        return Err(WeightsError::LengthMismatch {
            uids: uids.len(),
            weights: weights.len(),
        });
    }
    if let Some((uid, value)) = uids
        .iter()
        .zip(weights)
        .find(|(_, w)| !w.is_finite() || **w < 0.0)
    {
        return Err(WeightsError::Invalid {
            uid: *uid,
            value: *value,
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(uids.len());
    if let Some(u) = uids.iter().find(|u| !seen.insert(**u)) {
        return Err(WeightsError::DuplicateUid(*u));
    }
    Ok(())
}

/// SDK `clip_to_max_weight`: sum-normalized weights with none above `limit`, the excess
/// redistributed through an iterative cutoff; uniform when no distribution can satisfy the
/// limit (`n · limit <= 1`).
pub fn clip_to_max_weight(weights: &[f64], limit: f64) -> Result<Vec<f64>, WeightsError> {
    let n = weights.len();
    let total = py_sum(weights.iter().copied());
    if n == 0 || total <= 0.0 {
        return Err(WeightsError::AllZero);
    }
    let nf = n as f64;
    if nf * limit <= 1.0 {
        return Ok(vec![1.0 / nf; n]);
    }
    let mut estimation: Vec<f64> = weights.iter().map(|w| w / total).collect();
    estimation.sort_by(f64::total_cmp);
    if estimation[n - 1] <= limit {
        return Ok(weights.iter().map(|w| w / total).collect());
    }
    let epsilon = 1e-7;
    let cumsum: Vec<f64> = estimation
        .iter()
        .scan(0.0, |acc, e| {
            *acc += e;
            Some(*acc)
        })
        .collect();
    let n_values = estimation
        .iter()
        .enumerate()
        .filter(|(i, e)| *e / (((n - i - 1) as f64) * *e + cumsum[*i] + epsilon) < limit)
        .count();
    // Python indexes cumsum[-1] when n_values is 0 (it cannot be: the smallest estimate always
    // passes when n · limit > 1).
    let at = if n_values == 0 { n - 1 } else { n_values - 1 };
    let cutoff_scale = (limit * cumsum[at] - epsilon) / (1.0 - limit * ((n - n_values) as f64));
    let cutoff = cutoff_scale * total;
    let clipped: Vec<f64> = weights
        .iter()
        .map(|w| if cutoff < *w { cutoff } else { *w })
        .collect();
    let clipped_total = py_sum(clipped.iter().copied());
    Ok(clipped.iter().map(|w| w / clipped_total).collect())
}

/// SDK `normalize` (the former `convert_weights_and_uids_for_emit`): divide by the maximum,
/// scale to 65535, round half to even, drop zeros. All-zero input gives empty vectors. `uids`
/// keep the given order; callers pass them ascending.
pub fn to_u16(uids: &[u16], weights: &[f64]) -> Result<(Vec<u16>, Vec<u16>), WeightsError> {
    check(uids, weights)?;
    let top = weights.iter().copied().fold(0.0_f64, f64::max);
    if top == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut out_uids = Vec::with_capacity(uids.len());
    let mut out_weights = Vec::with_capacity(uids.len());
    for (&uid, &w) in uids.iter().zip(weights) {
        // Finite, in [0, 65535] after scaling: the cast cannot truncate.
        let v = ((w / top) * f64::from(U16_MAX)).round_ties_even() as u16;
        if v != 0 {
            out_uids.push(uid);
            out_weights.push(v);
        }
    }
    Ok((out_uids, out_weights))
}

/// What SDK 11.3's `_conform` makes of a weight vector (never a self-weight: tenure's vectors
/// cover the subnet's miners).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conformed {
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    /// The weights after the max-weight clip, as fractions of their sum (before the u16 step);
    /// `None` when the subnet has no limit and the SDK skips the clip.
    pub clipped: Option<Vec<f64>>,
}

/// SDK `_conform`: `clip_to_max_weight(w, limit / 65535)` when `max_weight_limit < 65535`, then
/// `normalize`; refuses all-zero vectors and vectors with fewer than `min_allowed` non-zero u16
/// values, as the SDK does.
pub fn conform(
    uids: &[u16],
    weights: &[f64],
    min_allowed: u16,
    max_weight_limit: u16,
) -> Result<Conformed, WeightsError> {
    check(uids, weights)?;
    let clipped = if max_weight_limit < U16_MAX {
        Some(clip_to_max_weight(
            weights,
            f64::from(max_weight_limit) / f64::from(U16_MAX),
        )?)
    } else {
        None
    };
    let (out_uids, out_weights) = to_u16(uids, clipped.as_deref().unwrap_or(weights))?;
    if out_uids.is_empty() {
        return Err(WeightsError::AllZero);
    }
    if out_uids.len() < usize::from(min_allowed) {
        return Err(WeightsError::TooFew {
            have: out_uids.len(),
            need: usize::from(min_allowed),
        });
    }
    Ok(Conformed {
        uids: out_uids,
        weights: out_weights,
        clipped,
    })
}

/// Why a vector had to be padded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Padding {
    /// The SDK's refusal of the unpadded vector.
    pub reason: String,
    /// The padded float weights that were conformed instead, per uid.
    pub padded: Vec<f64>,
}

/// The vectors to submit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Emitted {
    pub conformed: Conformed,
    pub padding: Option<Padding>,
}

/// The whole conversion for one epoch: `uids` are every registered uid (ascending) with its
/// weight. Where the SDK would refuse the vector (all zero, or fewer non-zero weights than
/// `MinAllowedWeights`), every uid gets `PAD` plus its sum-normalized weight, as SDK 10's
/// `process_weights` did, and that vector is conformed instead; the chain's own rule
/// (`len >= min(MinAllowedWeights, SubnetworkN)`) is what the padded vector must meet.
pub fn emit(
    uids: &[u16],
    weights: &[f64],
    min_allowed: u16,
    max_weight_limit: u16,
) -> Result<Emitted, WeightsError> {
    match conform(uids, weights, min_allowed, max_weight_limit) {
        Ok(conformed) => Ok(Emitted {
            conformed,
            padding: None,
        }),
        Err(e @ (WeightsError::AllZero | WeightsError::TooFew { .. })) => {
            if uids.is_empty() {
                return Err(WeightsError::AllZero);
            }
            let total = py_sum(weights.iter().copied());
            let padded: Vec<f64> = weights
                .iter()
                .map(|w| PAD + if total > 0.0 { w / total } else { 0.0 })
                .collect();
            let need = min_allowed.min(u16::try_from(uids.len()).unwrap_or(u16::MAX));
            let conformed = conform(uids, &padded, need, max_weight_limit)?;
            Ok(Emitted {
                conformed,
                padding: Some(Padding {
                    reason: e.to_string(),
                    padded,
                }),
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_becomes_65535_and_zeros_drop() {
        let (u, w) = to_u16(&[0, 1, 2, 3], &[0.5, 1.0, 0.0, 0.25]).unwrap();
        assert_eq!(u, vec![0, 1, 3]);
        assert_eq!(w, vec![32768, 65535, 16384]); // 32767.5 → 32768 (even), 16383.75 → 16384
    }

    #[test]
    fn ties_round_to_even() {
        // 1/65535 * 65535 * 0.5 = 0.5 → 0 (dropped); 1.5 → 2; 2.5 → 2.
        let (u, w) = to_u16(&[0, 1, 2, 3], &[0.5, 1.5, 2.5, 65535.0]).unwrap();
        assert_eq!(u, vec![1, 2, 3]);
        assert_eq!(w, vec![2, 2, 65535]);
    }

    #[test]
    fn all_zero_and_bad_input() {
        assert_eq!(to_u16(&[0, 1], &[0.0, 0.0]).unwrap(), (vec![], vec![]));
        assert!(matches!(
            to_u16(&[0], &[f64::NAN]),
            Err(WeightsError::Invalid { uid: 0, .. })
        ));
        assert!(matches!(
            to_u16(&[0, 1], &[-1.0, 1.0]),
            Err(WeightsError::Invalid { .. })
        ));
        assert!(matches!(
            to_u16(&[0, 0], &[1.0, 1.0]),
            Err(WeightsError::DuplicateUid(0))
        ));
        assert!(matches!(
            to_u16(&[0], &[1.0, 2.0]),
            Err(WeightsError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn clip_caps_the_largest_share_at_the_limit() {
        let w = [100.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let c = clip_to_max_weight(&w, 0.2).unwrap();
        let top = c.iter().copied().fold(0.0, f64::max);
        assert!(top <= 0.2 + 1e-9, "{top}");
        assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Below the cutoff, weights keep their ratios.
        assert!((c[1] - c[2]).abs() < 1e-15);
    }

    #[test]
    fn clip_is_uniform_when_the_limit_cannot_be_met() {
        assert_eq!(
            clip_to_max_weight(&[5.0, 1.0, 0.0], 0.3).unwrap(),
            vec![1.0 / 3.0; 3]
        );
        assert_eq!(
            clip_to_max_weight(&[0.0, 0.0], 0.9),
            Err(WeightsError::AllZero)
        );
    }

    #[test]
    fn conform_refuses_as_the_sdk_and_emit_pads() {
        let uids = [0, 1, 2, 3, 4];
        let w = [0.0, 2.0, 0.0, 1.0, 0.0];
        assert_eq!(
            conform(&uids, &w, 3, U16_MAX),
            Err(WeightsError::TooFew { have: 2, need: 3 })
        );
        let e = emit(&uids, &w, 3, U16_MAX).unwrap();
        assert_eq!(e.conformed.uids, vec![0, 1, 2, 3, 4]);
        assert_eq!(e.conformed.weights[1], 65535);
        assert!(e.conformed.weights.iter().all(|v| *v >= 1));
        assert!(e.padding.is_some());
        let zero = emit(&uids, &[0.0; 5], 0, U16_MAX).unwrap();
        assert_eq!(zero.conformed.weights, vec![65535; 5]);
        assert_eq!(emit(&[], &[], 1, U16_MAX), Err(WeightsError::AllZero));
    }

    #[test]
    fn python_sum_is_compensated() {
        assert_eq!(py_sum([1e16, 1.0, -1e16]), 1.0);
        assert_eq!(py_sum([0.1; 10]), 1.0);
        assert_eq!(py_sum([]), 0.0);
    }
}
