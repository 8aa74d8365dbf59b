//! The deployment files, checked without a Docker engine or a running systemd: the Dockerfile
//! copies paths that exist and builds the crate's binary, its entrypoint's arguments parse; the
//! compose file mounts configurations that pass `tenure config check` and its devnet command
//! parses; the systemd unit passes `systemd-analyze verify` (systemd is installed by .ci/run)
//! and carries the hardening the operations guide promises; the alert rules name only metrics
//! the daemon exports.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tenure");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Runs the binary; (success, stdout + stderr).
fn tenure(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run tenure");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Dockerfile instructions with continuation lines joined: (instruction, rest).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') || (l.is_empty() && cur.is_empty()) {
            continue;
        }
        match l.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(l);
                let (ins, rest) = cur.split_once(' ').unwrap_or((&cur, ""));
                out.push((ins.to_uppercase(), rest.trim().to_string()));
                cur.clear();
            }
        }
    }
    out
}

fn json_args(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not an exec-form JSON array: {s}: {e}"))
}

#[test]
fn the_dockerfile_builds_the_crates_binary_from_paths_that_exist() {
    let ins = instructions(&read("Dockerfile"));
    let get = |name: &str| -> Vec<&String> {
        ins.iter()
            .filter(|(i, _)| i == name)
            .map(|(_, r)| r)
            .collect()
    };
    // The default target is the last stage: the product image, which must not hold the devnet.
    let last_from = ins.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let product = &ins[last_from..];
    let get_last = |name: &str| -> Vec<&String> {
        product
            .iter()
            .filter(|(i, _)| i == name)
            .map(|(_, r)| r)
            .collect()
    };
    assert!(
        product.iter().all(|(_, r)| !r.contains("tenure-devnet")),
        "the product image carries the devnet: {product:?}"
    );
    // Every COPY from the context names files that exist.
    let mut copied = 0;
    for c in get("COPY") {
        if c.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = c.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(root().join(src).exists(), "COPY {src}: no such path");
            copied += 1;
        }
    }
    assert!(copied >= 5, "{ins:?}");
    // The build stage builds our binary where the runtime stage copies it from.
    let workdir = get("WORKDIR")[0].clone();
    let build = get("RUN")
        .into_iter()
        .find(|r| r.contains("cargo build"))
        .expect("a cargo build step");
    let bin = build
        .split_whitespace()
        .skip_while(|w| *w != "--bin")
        .nth(1)
        .expect("cargo build --bin <name>");
    assert!(
        build.contains("--release") && build.contains("--locked"),
        "{build}"
    );
    let cargo: toml::Table = read("Cargo.toml").parse().unwrap();
    let bins: Vec<&str> = cargo["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(bins.contains(&bin), "{bin} is not a binary of the crate");
    let from_build = get_last("COPY")
        .into_iter()
        .find(|c| c.starts_with("--from=build"))
        .expect("COPY --from=build");
    let parts: Vec<&str> = from_build.split_whitespace().collect();
    assert_eq!(parts[1], format!("{workdir}/target/release/{bin}"));
    let installed = parts[2];
    // Smoke-tested at build time, run as non-root, entrypoint is the installed binary.
    assert!(
        get_last("RUN")
            .iter()
            .any(|r| serde_json::from_str::<Vec<String>>(r)
                .is_ok_and(|a| a.first().map(String::as_str) == Some(installed))
                && r.contains("--version")),
        "no `RUN [\"{installed}\", \"--version\"]`"
    );
    let user = get_last("USER").last().unwrap().to_string();
    let uid: u32 = user.split(':').next().unwrap().parse().unwrap();
    assert!(uid >= 1000, "USER {user}");
    let entry = json_args(get_last("ENTRYPOINT")[0]);
    let cmd = json_args(get_last("CMD")[0]);
    assert_eq!(entry[0], installed);
    // The entrypoint's and command's arguments parse (`--help` of the subcommand they name).
    let mut args: Vec<&str> = entry[1..].iter().map(String::as_str).collect();
    args.extend(cmd.iter().map(String::as_str));
    args.push("--help");
    let (ok, out) = tenure(&args, &[]);
    assert!(ok, "{args:?}: {out}");
    assert!(out.contains("Usage: tenure run"), "{out}");
    // The build context leaves target/ and local secrets out.
    let ignore = read(".dockerignore");
    for must in ["target", "deploy/secrets", "deploy/.env"] {
        assert!(ignore.lines().any(|l| l.trim() == must), "{must}");
    }
}

/// The flow sequence after `key:` in the named service of the compose file, as JSON.
fn compose_list(compose: &str, service: &str, key: &str) -> Vec<String> {
    let lines: Vec<&str> = compose.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == format!("  {service}:"))
        .unwrap_or_else(|| panic!("no service {service}"));
    let body: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| {
            let indent = l.len() - l.trim_start().len();
            l.trim().is_empty() || l.trim_start().starts_with('#') || indent > 2
        })
        .copied()
        .collect();
    let text = body.join("\n");
    let pat = format!("{key}: [");
    let at = text
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in service {service}"));
    let list = &text[at + pat.len() - 1..];
    let close = list.find(']').unwrap();
    let joined: String = list[..=close]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    json_args(&joined)
}

#[test]
fn compose_mounts_configurations_that_check_and_commands_that_parse() {
    let compose = read("deploy/docker-compose.yml");
    assert!(
        root().join("deploy").join("..").join("Dockerfile").exists(),
        "build context .. must hold the Dockerfile"
    );
    let url = [(
        "TENURE__DATABASE__URL",
        "postgres://tenure:secret@postgres:5432/tenure",
    )];
    for file in ["tenure.docker.toml", "tenure.devnet.toml"] {
        assert!(
            compose.contains(&format!("./{file}")),
            "compose never names {file}"
        );
        let path = format!("deploy/{file}");
        let (ok, out) = tenure(&["--config", &path, "config", "check"], &url);
        assert!(ok, "{path}: {out}");
    }
    assert!(compose.contains("./tenure.docker.toml}:/etc/tenure/tenure.toml:ro"));
    // Both configurations listen inside the container on the port the compose publishes.
    for file in ["deploy/tenure.docker.toml", "deploy/tenure.devnet.toml"] {
        let t: toml::Table = read(file).parse().unwrap();
        assert_eq!(t["http"]["listen"].as_str(), Some("0.0.0.0:9477"), "{file}");
    }
    assert!(compose.contains("\"127.0.0.1:9477:9477\""));
    assert!(compose.contains("read_only: true"));
    assert!(compose.contains("condition: service_healthy"));
    assert!(compose.contains("pg_isready"));
    // The tenure service's command goes after the image's entrypoint.
    let cmd = compose_list(&compose, "tenure", "command");
    let mut args = vec!["--config", "/etc/tenure/tenure.toml"];
    args.extend(cmd.iter().map(String::as_str));
    args.push("--help");
    let (ok, out) = tenure(&args, &[]);
    assert!(ok, "{args:?}: {out}");
    let health = compose_list(&compose, "tenure", "test");
    assert_eq!(health[0], "CMD");
    assert_eq!(health[1], "/usr/local/bin/tenure");
    // The devnet's command parses as the devnet's arguments and serves other containers.
    let entry = compose_list(&compose, "devnet", "entrypoint");
    assert_eq!(entry, ["/usr/local/bin/tenure-devnet"]);
    let dockerfile = instructions(&read("Dockerfile"));
    let devnet_stage = dockerfile
        .iter()
        .skip_while(|(i, r)| !(i == "FROM" && r.ends_with("AS devnet")))
        .take_while(|(i, r)| i != "FROM" || r.ends_with("AS devnet"))
        .collect::<Vec<_>>();
    assert!(
        devnet_stage
            .iter()
            .any(|(i, r)| i == "ENTRYPOINT" && json_args(r) == entry),
        "the Dockerfile's devnet stage does not run {entry:?}: {devnet_stage:?}"
    );
    let cmd = compose_list(&compose, "devnet", "command");
    #[derive(clap::Parser)]
    struct P {
        #[command(flatten)]
        args: tenure_devnet::DevnetArgs,
    }
    let p = <P as clap::Parser>::try_parse_from(
        std::iter::once("devnet".to_string()).chain(cmd.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert_eq!(p.args.host.to_string(), "0.0.0.0");
    assert_eq!(
        p.args.wallet_path.as_deref(),
        Some(Path::new("/devnet-wallets"))
    );
    let devnet_cfg: toml::Table = read("deploy/tenure.devnet.toml").parse().unwrap();
    assert_eq!(
        devnet_cfg["wallet"]["hotkey_file"].as_str(),
        Some("/devnet-wallets/devnet/hotkeys/validator")
    );
}

/// The unit's `Key=value` lines.
fn unit_keys(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `systemd-analyze verify` of tenure.service in the scratch root `r`.
fn verify(r: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", r.display()))
        .arg("tenure.service")
        .output()
        .expect("run systemd-analyze")
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = read("deploy/systemd/tenure.service");
    let keys = unit_keys(&unit);
    let get = |k: &str| -> Vec<&str> {
        keys.iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for (k, v) in [
        ("Type", "notify"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "always"),
        ("User", "tenure"),
        ("StateDirectory", "tenure"),
    ] {
        assert_eq!(get(k), [v], "{k}");
    }
    for k in [
        "WatchdogSec",
        "SystemCallFilter",
        "LoadCredential",
        "EnvironmentFile",
        "TimeoutStopSec",
    ] {
        assert!(!get(k).is_empty(), "{k} missing");
    }
    // The stop timeout leaves room for the daemon's own shutdown deadline.
    let stop: u64 = get("TimeoutStopSec")[0].parse().unwrap();
    let example: toml::Table = read("config/tenure.example.toml").parse().unwrap();
    let deadline = example["daemon"]["shutdown_deadline_secs"]
        .as_integer()
        .unwrap() as u64;
    assert!(stop > deadline, "TimeoutStopSec {stop} <= {deadline}");
    // The environment it sets names real configuration keys; the command line parses.
    for env in get("Environment") {
        let (k, v) = env.split_once('=').unwrap();
        let (ok, out) = tenure(
            &["--config", "config/tenure.example.toml", "config", "check"],
            &[(k, v)],
        );
        assert!(ok, "Environment={env}: {out}");
    }
    let exec: Vec<&str> = get("ExecStart")[0].split_whitespace().collect();
    assert_eq!(exec[0], "/usr/local/bin/tenure");
    let mut args = exec[1..].to_vec();
    args.push("--help");
    let (ok, out) = tenure(&args, &[]);
    assert!(ok && out.contains("Usage: tenure run"), "{out}");

    // systemd-analyze verify in a scratch root holding the system's units, the binary at the
    // unit's path and the unit.
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        analyze.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: install systemd (apt-get install systemd); .ci/run does"
    );
    let scratch = tempfile::tempdir().unwrap();
    let r = scratch.path();
    let units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("sysinit.target").exists())
        .expect("the system's unit directory");
    std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    let copied = Command::new("cp")
        .arg("-r")
        .arg(units)
        .arg(r.join("usr/lib/systemd/system"))
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    std::fs::copy(BIN, r.join("usr/local/bin/tenure")).unwrap();
    std::fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    std::fs::write(r.join("etc/systemd/system/tenure.service"), &unit).unwrap();
    let out = verify(r);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    // Unknown keys and bad values are only warnings to verify: none may mention the unit.
    assert!(
        !text.contains("tenure.service"),
        "systemd-analyze verify complains:\n{text}"
    );

    // The same check catches a typo (so that the assertion above can fail).
    std::fs::write(
        r.join("etc/systemd/system/tenure.service"),
        unit.replace("ProtectSystem=strict", "ProtectSytem=strict"),
    )
    .unwrap();
    let out = verify(r);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ProtectSytem"));
}

#[test]
fn alert_rules_name_only_metrics_the_daemon_exports() {
    let rules = read("deploy/prometheus/alerts.yml");
    // Labelled families show once they have a series, as they do in a running daemon.
    let metrics = std::sync::Arc::new(tenure::metrics::Metrics::new(1));
    tenure::health::Health::new(metrics.clone()).fail("ingest", "starting");
    metrics
        .weights
        .failures
        .get_or_create(&tenure::metrics::ReasonLabels {
            reason: "SettingWeightsTooFast".into(),
        })
        .inc();
    let exported = metrics.render();
    let families: Vec<&str> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(families.contains(&"tenure_leader"), "{exported}");
    let mut named = 0;
    for (i, _) in rules.match_indices("tenure_") {
        let before = rules[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let known = families
            .iter()
            .any(|f| name == *f || name == format!("{f}_total"));
        assert!(
            known,
            "alerts.yml names {name}, which /metrics does not have"
        );
        named += 1;
    }
    assert!(named >= 10);
    assert_eq!(
        rules.matches("- alert:").count(),
        rules.matches("expr:").count()
    );
}
