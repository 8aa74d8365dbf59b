//! `tenure weights emit`: the SDK conversion as a filter. Reads
//! `{"scores": {"<uid>": <score>, ...}, "min_allowed_weights": <n>, "max_weight_limit": <u16>}`
//! (the last two optional: 0 and 65535) and answers `{"dests": [...], "weights": [...]}`,
//! exactly the vectors tenure would submit for those scores.

use serde::Deserialize;
use serde_json::json;

use super::normalize::{self, U16_MAX};
use super::scores::Pairs;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    scores: Pairs,
    #[serde(default)]
    min_allowed_weights: u16,
    #[serde(default = "no_limit")]
    max_weight_limit: u16,
}

fn no_limit() -> u16 {
    U16_MAX
}

/// The answer to one request, or why it is refused.
pub fn emit(input: &str) -> Result<serde_json::Value, String> {
    let req: Request = serde_json::from_str(input).map_err(|e| format!("invalid input: {e}"))?;
    let mut pairs = Vec::with_capacity(req.scores.0.len());
    for (key, score) in req.scores.0 {
        let uid: u16 = key
            .parse()
            .map_err(|_| format!("scores key {key:?} is not a uid (0..=65535)"))?;
        pairs.push((uid, score));
    }
    pairs.sort_by_key(|p| p.0);
    let (uids, weights): (Vec<u16>, Vec<f64>) = pairs.into_iter().unzip();
    let out = normalize::emit(
        &uids,
        &weights,
        req.min_allowed_weights,
        req.max_weight_limit,
    )
    .map_err(|e| e.to_string())?;
    Ok(json!({
        "dests": out.conformed.uids,
        "weights": out.conformed.weights,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_vectors_and_refuses_bad_input() {
        let v = emit(r#"{"scores": {"2": 0.25, "0": 0.5, "1": 1.0}}"#).unwrap();
        assert_eq!(
            v,
            json!({"dests": [0, 1, 2], "weights": [32768, 65535, 16384]})
        );
        for bad in [
            r#"{"scores": {"a": 1}}"#,
            r#"{"scores": {"1": 1, "1": 2}}"#,
            r#"{"scores": {"1": -1}}"#,
            r#"{"scores": {"70000": 1}}"#,
            r#"{"scores": {"1": 1}, "max_weight_limit": 70000}"#,
            r#"{"scores": {"1": 1}, "extra": 1}"#,
            r#"[1, 2]"#,
            "",
        ] {
            assert!(emit(bad).is_err(), "{bad}");
        }
    }
}
