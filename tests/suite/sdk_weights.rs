//! The weight conversion against golden vectors computed by the Bittensor SDK 11.3 itself
//! (`scripts/sdk-golden-vectors.py`): `conform` must refuse exactly where `_conform` refuses and
//! otherwise give bit-identical u16 vectors; `emit` (and `tenure weights emit`) must give what
//! `_conform` makes of the padded vector where the SDK refuses.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use tenure::weights::normalize::{WeightsError, conform, emit};

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sdk_weights.json"
    ))
    .expect("golden vectors");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["bittensor"], "11.3.0");
    v["cases"].as_array().expect("cases").clone()
}

fn inputs(c: &Value) -> (Vec<u16>, Vec<f64>, u16, u16) {
    let mut pairs: Vec<(u16, f64)> = c["scores"]
        .as_object()
        .expect("scores")
        .iter()
        .map(|(k, v)| (k.parse().expect("uid"), v.as_f64().expect("score")))
        .collect();
    pairs.sort_by_key(|p| p.0);
    let (u, w) = pairs.into_iter().unzip();
    (
        u,
        w,
        c["min_allowed_weights"].as_u64().expect("min") as u16,
        c["max_weight_limit"].as_u64().expect("limit") as u16,
    )
}

fn vectors(v: &Value) -> (Vec<u16>, Vec<u16>) {
    let list = |k: &str| -> Vec<u16> {
        v[k].as_array()
            .expect("list")
            .iter()
            .map(|x| x.as_u64().expect("u16") as u16)
            .collect()
    };
    (list("dests"), list("weights"))
}

#[test]
fn conform_matches_the_sdk_bit_for_bit() {
    let cases = cases();
    assert!(cases.len() >= 30);
    for c in &cases {
        let name = c["name"].as_str().expect("name");
        let (uids, weights, min, limit) = inputs(c);
        let ours = conform(&uids, &weights, min, limit);
        match c["sdk"]["error"].as_str() {
            Some("all_zero") => assert_eq!(ours, Err(WeightsError::AllZero), "{name}"),
            Some("too_few") => assert!(
                matches!(ours, Err(WeightsError::TooFew { .. })),
                "{name}: {ours:?}"
            ),
            Some(other) => panic!("{name}: unknown SDK error {other}"),
            None => {
                let ours = ours.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!((ours.uids, ours.weights), vectors(&c["sdk"]), "{name}");
            }
        }
    }
}

#[test]
fn emit_pads_where_the_sdk_refuses_and_matches_it_everywhere() {
    let mut padded = 0;
    for c in &cases() {
        let name = c["name"].as_str().expect("name");
        let (uids, weights, min, limit) = inputs(c);
        let ours = emit(&uids, &weights, min, limit).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (ours.conformed.uids.clone(), ours.conformed.weights.clone()),
            vectors(&c["expect"]),
            "{name}"
        );
        if let Some(p) = &c["padded"].as_array() {
            padded += 1;
            let want: Vec<f64> = p.iter().map(|x| x.as_f64().expect("f64")).collect();
            assert_eq!(ours.padding.expect("padded").padded, want, "{name}");
        } else {
            assert!(ours.padding.is_none(), "{name}");
        }
    }
    assert!(padded >= 5);
}

/// The binary's filter on every golden case, and refusals with exit 65.
#[test]
fn weights_emit_binary_prints_the_sdk_vectors() {
    let run = |input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tenure"))
            .args(["weights", "emit"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    for c in cases() {
        let input = serde_json::json!({
            "scores": c["scores"],
            "min_allowed_weights": c["min_allowed_weights"],
            "max_weight_limit": c["max_weight_limit"],
        });
        let out = run(&input.to_string());
        assert!(out.status.success(), "{}: {:?}", c["name"], out);
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON out");
        assert_eq!(vectors(&v), vectors(&c["expect"]), "{}", c["name"]);
    }
    for bad in [
        r#"{"scores": {"1": -0.5}}"#,
        r#"{"scores": {"x": 1}}"#,
        r#"{"scores": {"1": 1, "1": 1}}"#,
        "not json",
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(65), "{bad}");
        assert!(out.stdout.is_empty(), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error"),
            "{bad}"
        );
    }
}
