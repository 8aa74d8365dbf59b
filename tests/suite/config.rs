//! Configuration: defaults, the example file, environment overrides and every class of error,
//! each of which must name the file and the key.

use std::path::{Path, PathBuf};

use tenure::config::{Config, ConfigError, Mode, StakeScope};

const FILE: &str = "/etc/tenure/test.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_env(text, &[])
}

fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::parse(Path::new(FILE), text, &vars).map(|l| l.config)
}

/// Asserts that `text` is refused with an error naming the file and `key`.
fn refused(text: &str, env: &[(&str, &str)], key: &str) -> String {
    let err = parse_env(text, env).expect_err("config should be refused");
    let msg = err.to_string();
    assert!(msg.contains(FILE), "error does not name the file: {msg}");
    assert_eq!(err.key(), Some(key), "error names the wrong key: {msg}");
    assert!(
        msg.contains(&format!("`{key}`")),
        "message does not name the key: {msg}"
    );
    msg
}

#[test]
fn empty_file_gives_spec_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.chain.block_time_secs, 12);
    assert_eq!(c.vesting.lookback_days, 90);
    assert_eq!(c.vesting.max_multiplier, 1.5);
    assert_eq!(c.vesting.mode, Mode::On);
    assert_eq!(c.vesting.stake_scope, StakeScope::Coldkey);
    assert_eq!(c.uptime.probe_interval_blocks, 25);
    assert_eq!(c.uptime.probe.timeout_ms, 3000);
    assert_eq!(c.uptime.probe.concurrency, 256);
    assert_eq!(c.uptime.max_multiplier, 2.0);
    assert_eq!(c.uptime.reliability.tiers.last().unwrap().bonus, 0.25);
    assert_eq!(c.weights.max_total_multiplier, 3.0);
    assert_eq!(c.weights.lead_blocks, 20);
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9477");
}

#[test]
fn example_file_documents_exactly_the_defaults() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/tenure.example.toml");
    let loaded = Config::load_with_env(&path, &[]).expect("the example config is valid");
    // Same values as the built-in defaults, key for key.
    assert_eq!(
        loaded.config.to_redacted_toml(),
        Config::default().to_redacted_toml()
    );
    // And it mentions every key: a key missing from the example would be undocumented.
    let text = std::fs::read_to_string(&path).unwrap();
    let defaults: toml::Table = toml::from_str(&Config::default().to_redacted_toml()).unwrap();
    let mut missing = Vec::new();
    collect_missing(&defaults, "", &text, &mut missing);
    assert!(
        missing.is_empty(),
        "keys not documented in the example: {missing:?}"
    );
}

fn collect_missing(t: &toml::Table, prefix: &str, text: &str, missing: &mut Vec<String>) {
    for (k, v) in t {
        let key = format!("{prefix}{k}");
        match v {
            toml::Value::Table(inner) => {
                if !text.contains(&format!("[{key}]")) {
                    missing.push(format!("[{key}]"));
                }
                collect_missing(inner, &format!("{key}."), text, missing);
            }
            _ => {
                let documented = text.lines().any(|l| {
                    let l = l.trim_start_matches(['#', ' ']);
                    l.starts_with(&format!("{k} =")) || l.starts_with(&format!("{k}="))
                });
                if !documented {
                    missing.push(key);
                }
            }
        }
    }
}

#[test]
fn missing_file_is_named() {
    let err = Config::load_with_env(Path::new("/nonexistent/tenure.toml"), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { .. }));
    assert!(
        err.to_string().contains("/nonexistent/tenure.toml"),
        "{err}"
    );
}

#[test]
fn unknown_key_is_refused() {
    refused(
        "[vesting]\nlookback_dayz = 90\n",
        &[],
        "vesting.lookback_dayz",
    );
    refused("[vestin]\nmode = \"on\"\n", &[], "vestin");
    refused("[uptime.probe]\ntimeout = 5\n", &[], "uptime.probe.timeout");
}

#[test]
fn wrong_type_is_refused() {
    let msg = refused(
        "[vesting]\nlookback_days = \"ninety\"\n",
        &[],
        "vesting.lookback_days",
    );
    assert!(msg.contains("invalid"), "{msg}");
    refused("[vesting]\nmode = \"maybe\"\n", &[], "vesting.mode");
    refused("[chain]\nnetuid = 70000\n", &[], "chain.netuid");
}

#[test]
fn out_of_range_values_are_refused() {
    refused("[chain]\nnetuid = 0\n", &[], "chain.netuid");
    refused(
        "[uptime]\nmax_multiplier = 0.5\n",
        &[],
        "uptime.max_multiplier",
    );
    refused(
        "[uptime.probe]\nconcurrency = 0\n",
        &[],
        "uptime.probe.concurrency",
    );
    refused(
        "[uptime.consistency]\nthreshold = 1.5\n",
        &[],
        "uptime.consistency.threshold",
    );
    refused(
        "[chain]\nendpoints = [\"http://node:9944\"]\n",
        &[],
        "chain.endpoints[0]",
    );
    refused(
        "[chain]\narchive_endpoints = [\"ws://archive:9944\", \"archive\"]\n",
        &[],
        "chain.archive_endpoints[1]",
    );
    refused("[database]\nurl = \"mysql://x/y\"\n", &[], "database.url");
    refused(
        "[uptime.time]\nholidays = [\"2026-13-01\"]\n",
        &[],
        "uptime.time.holidays[0]",
    );
    refused(
        "[[uptime.time.maintenance_windows]]\nweekday = \"funday\"\nstart_hour = 1\nend_hour = 2\n",
        &[],
        "uptime.time.maintenance_windows[0].weekday",
    );
    refused(
        "[weights]\nexempt_uids = [3, 3]\n",
        &[],
        "weights.exempt_uids[1]",
    );

    // 192 hex digits that are not a point of the curve: commits would be undecryptable.
    let msg = refused(
        &format!("[weights.drand]\npublic_key = \"{}\"\n", "ab".repeat(96)),
        &[],
        "weights.drand.public_key",
    );
    assert!(msg.contains("G2 point"), "{msg}");
}

#[test]
fn tiers_must_increase_strictly() {
    let msg = refused(
        "[vesting]\namount_tiers = [{ min = 0.5, multiplier = 1.1 }, { min = 0.5, multiplier = 1.2 }]\n",
        &[],
        "vesting.amount_tiers[1].min",
    );
    assert!(msg.contains("strictly increasing"), "{msg}");
    refused(
        "[uptime.reliability]\ntiers = [{ min = 0.9, bonus = 0.1 }, { min = 0.8, bonus = 0.2 }]\n",
        &[],
        "uptime.reliability.tiers[1].min",
    );
    refused(
        "[uptime.longevity]\ntiers = [{ min = 14, bonus = 0.1 }, { min = 30, bonus = 0.05 }]\n",
        &[],
        "uptime.longevity.tiers[1].bonus",
    );
    refused(
        "[vesting]\namount_tiers = [{ min = 0.3, multiplier = 1.1, extra = 1 }]\n",
        &[],
        "vesting.amount_tiers[0].extra",
    );
}

#[test]
fn lookback_must_cover_the_top_duration_tier() {
    let msg = refused(
        "[vesting]\nlookback_days = 45\n",
        &[],
        "vesting.lookback_days",
    );
    assert!(msg.contains("60"), "{msg}");
}

#[test]
fn environment_overrides_win_over_the_file() {
    let text = "[vesting]\nlookback_days = 90\nmode = \"on\"\n[chain]\nnetuid = 3\n";
    let c = parse_env(
        text,
        &[
            ("TENURE__VESTING__LOOKBACK_DAYS", "120"),
            ("TENURE__VESTING__MODE", "shadow"),
            (
                "TENURE__CHAIN__ENDPOINTS",
                "ws://a:9944,wss://b.example:443",
            ),
            ("TENURE__UPTIME__PROBE__TIMEOUT_MS", "1500"),
            ("TENURE__DATABASE__URL", "postgres://u:pw@db:5432/t"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(c.vesting.lookback_days, 120);
    assert_eq!(c.vesting.mode, Mode::Shadow);
    assert_eq!(c.chain.netuid, 3);
    assert_eq!(
        c.chain.endpoints,
        vec!["ws://a:9944", "wss://b.example:443"]
    );
    assert_eq!(c.uptime.probe.timeout_ms, 1500);
    assert_eq!(c.database.url.expose(), "postgres://u:pw@db:5432/t");
}

#[test]
fn a_bad_environment_override_names_its_variable() {
    let msg = refused(
        "",
        &[("TENURE__VESTING__LOOKBACK_DAYS", "10")],
        "vesting.lookback_days",
    );
    assert!(msg.contains("TENURE__VESTING__LOOKBACK_DAYS"), "{msg}");
    let msg = refused("", &[("TENURE__VESTING__NOPE", "1")], "vesting.nope");
    assert!(msg.contains("TENURE__VESTING__NOPE"), "{msg}");
}

#[test]
fn secrets_are_redacted() {
    let c = parse(
        "[database]\nurl = \"postgres://tenure:hunter2hunter2@db:5432/tenure\"\n[http]\napi_token = \"0123456789abcdef-secret\"\n",
    )
    .unwrap();
    let shown = c.to_redacted_toml();
    let debug = format!("{c:?}");
    for s in [&shown, &debug] {
        assert!(!s.contains("hunter2"), "password leaked: {s}");
        assert!(!s.contains("0123456789abcdef-secret"), "token leaked");
        assert!(
            s.contains("db:5432"),
            "the non-secret part of the URL is kept"
        );
    }
    assert_eq!(
        c.api_token().unwrap().unwrap().expose(),
        "0123456789abcdef-secret"
    );
}

#[test]
fn api_token_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "file-token-0123456789\n").unwrap();
    let c = parse(&format!(
        "[http]\napi_token_file = {:?}\n",
        token.display().to_string()
    ))
    .unwrap();
    assert_eq!(
        c.api_token().unwrap().unwrap().expose(),
        "file-token-0123456789"
    );
    refused(
        &format!(
            "[http]\napi_token = \"0123456789abcdefgh\"\napi_token_file = {:?}\n",
            token.display().to_string()
        ),
        &[],
        "http.api_token_file",
    );
}

#[test]
fn an_unreadable_or_short_token_file_is_a_config_error() {
    let msg = refused(
        "[http]\napi_token_file = \"/nonexistent/tenure-token\"\n",
        &[],
        "http.api_token_file",
    );
    assert!(msg.contains("/nonexistent/tenure-token"), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "short\n").unwrap();
    let text = format!("[http]\napi_token_file = {:?}\n", file.to_str().unwrap());
    let msg = refused(&text, &[], "http.api_token_file");
    assert!(msg.contains("16 characters"), "{msg}");
    std::fs::write(&file, "a-long-enough-token-0123\n").unwrap();
    let cfg = parse(&text).unwrap();
    assert_eq!(
        cfg.http.token().unwrap().map(|t| t.expose().to_string()),
        Some("a-long-enough-token-0123".to_string())
    );
}
