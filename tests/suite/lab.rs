//! The incentive lab's `simulate`: the shipped populations through the real engines, and the
//! command as operators run it.

use std::path::{Path, PathBuf};
use std::process::Command;

use tenure::config::{Config, UptimeCombine};
use tenure::lab::population::Population;
use tenure::lab::report::Report;
use tenure::lab::simulate::Rules;

const BIN: &str = env!("CARGO_BIN_EXE_tenure");

fn population(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/populations/{name}.toml"))
}

fn run(combine: UptimeCombine, days: u32) -> (Population, Report) {
    let pop = Population::load(&population("healthy")).expect("healthy population");
    let mut cfg = Config::default();
    cfg.uptime.combine = combine;
    let report = tenure::lab::simulate(&pop, &Rules::of(&cfg), days).expect("simulate");
    (pop, report)
}

/// SPEC §5's claim for the default `scaled` combination, on the shipped healthy subnet over
/// 200 days: every tier changes some miner's multiplier, the perfect group ends at the cap, and
/// every longevity step raises a perfect miner's multiplier the day it is reached. The raw
/// product (`multiplicative`) leaves the 90- and 180-day steps dead.
#[test]
fn simulate_proves_the_defaults() {
    let (pop, scaled) = run(UptimeCombine::Scaled, 200);
    assert!(
        scaled.dead_tiers.is_empty(),
        "dead: {:?}",
        scaled.dead_tiers
    );
    let cap = Config::default().uptime.max_multiplier;
    let end = scaled.group_day("veterans", 200).expect("day 200");
    assert_eq!(end.uptime_multiplier, cap, "{end:?}");
    let before = scaled.group_day("veterans", 179).expect("day 179");
    assert!(before.uptime_multiplier < cap, "{before:?}");
    for days in [14, 30, 90, 180] {
        let t = scaled
            .tier(&format!("uptime.longevity >= {days}"))
            .expect("tier");
        assert_eq!(t.first_day, Some(days), "{t:?}");
        assert!(t.groups.contains(&"veterans".to_string()), "{t:?}");
    }

    // Retention, from the population file itself: the cohort of day 0 is the veterans and the
    // leavers; only the leavers leave (on their `leaves_day`, after 30 days, before 90).
    let count = |name: &str| pop.groups.iter().find(|g| g.name == name).unwrap().miners;
    let (veterans, leavers) = (count("veterans"), count("leavers"));
    let last = scaled.network.last().unwrap();
    assert_eq!(last.day, 200);
    assert_eq!(last.retention[1], Some(1.0));
    let kept = f64::from(veterans) / f64::from(veterans + leavers);
    assert_eq!(last.retention[2], Some(kept));
    assert_eq!(last.capped_uptime, veterans as usize);

    let (_, raw) = run(UptimeCombine::Multiplicative, 200);
    for days in [90, 180] {
        let label = format!("uptime.longevity >= {days}");
        assert!(raw.dead_tiers.contains(&label), "{:?}", raw.dead_tiers);
    }
    for days in [14, 30] {
        let label = format!("uptime.longevity >= {days}");
        assert!(!raw.dead_tiers.contains(&label), "{:?}", raw.dead_tiers);
    }
    let saturated = raw.group_day("veterans", 90).unwrap();
    assert_eq!(saturated.uptime_multiplier, cap, "{saturated:?}");
}

/// `tenure simulate` as an operator runs it: text, JSON, SVG charts; a bad population file is
/// a configuration error naming the file and the key.
#[test]
fn simulate_command() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("charts");
    let out = Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/tenure.toml",
            "simulate",
            "--days",
            "3",
        ])
        .arg("--population")
        .arg(population("flapping"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "an explicit config must exist");

    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["simulate", "--days", "20", "--json", "--svg"])
        .arg(&svg)
        .arg("--population")
        .arg(population("flapping"))
        .env_remove("TENURE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["days"], 20);
    assert_eq!(json["network"].as_array().unwrap().len(), 20);
    let groups: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "reliable",
            "flapping",
            "weekend-off",
            "down-6h-daily",
            "outages",
            "dead"
        ]
    );
    // Dead miners scored 0 get no weight; the reliable ones get the largest share.
    let share = |g: usize| {
        json["groups"][g]["days"][19]["weight_share"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(share(5), 0.0);
    assert!((1..5).all(|g| share(0) > share(g)), "{json}");
    for chart in [
        "uptime-multiplier",
        "vesting-multiplier",
        "weight-share",
        "network",
        "downtime",
    ] {
        let text = std::fs::read_to_string(svg.join(format!("{chart}.svg"))).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("polyline"),
            "{chart}"
        );
    }

    let text = Command::new(BIN)
        .current_dir(dir.path())
        .args(["simulate", "--days", "10", "--population"])
        .arg(population("dumpers"))
        .env_remove("TENURE_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("built-in default rules"), "{text}");
    assert!(text.contains("instant-sellers"), "{text}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[groups]]\nname = \"x\"\nminers = 1\nuptime = { kind = \"always_up\" }\nholding = { kind = \"sells\", fraction = 2.0, after_days = 1 }\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["simulate", "--days", "3", "--population"])
        .arg(&bad)
        .env_remove("TENURE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("`groups[0].holding.fraction`"),
        "{err}"
    );
}
