//! Epoch weights: base scores × uptime × vesting × penalty, normalized and converted to the u16
//! vectors the chain stores, exactly as the Bittensor SDK does. The conversion below is pure;
//! scheduling and the submission state machine land with issue 8.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    #[error("{uids} uids but {weights} weights")]
    LengthMismatch { uids: usize, weights: usize },
    #[error("weight of uid {uid} is {value}: weights must be finite and >= 0")]
    Invalid { uid: u16, value: f64 },
}

/// The SDK's `convert_weights_and_uids_for_emit`: divide by the maximum, scale to 65535, round
/// half to even, drop zeros. All-zero input gives empty vectors. `uids` are kept in the given
/// order; callers pass them ascending.
pub fn to_u16(uids: &[u16], weights: &[f64]) -> Result<(Vec<u16>, Vec<u16>), WeightsError> {
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
    let max = weights.iter().copied().fold(0.0_f64, f64::max);
    if max == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut out_uids = Vec::with_capacity(uids.len());
    let mut out_weights = Vec::with_capacity(uids.len());
    for (&uid, &w) in uids.iter().zip(weights) {
        // Finite, in [0, 65535] after scaling: the cast cannot truncate.
        let v = ((w / max) * f64::from(u16::MAX)).round_ties_even() as u16;
        if v != 0 {
            out_uids.push(uid);
            out_weights.push(v);
        }
    }
    Ok((out_uids, out_weights))
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
            to_u16(&[0], &[]),
            Err(WeightsError::LengthMismatch { .. })
        ));
    }
}
