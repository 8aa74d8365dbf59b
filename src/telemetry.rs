//! Logging: tracing to stderr, human or JSON lines, filtered by `log.level` unless `RUST_LOG` is
//! set.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// sqlx logs every PostgreSQL notice at info.
const QUIET_NOTICES: &str = "sqlx::postgres::notice=warn";

/// Installs the global subscriber. Safe to call twice (the second call is ignored), which keeps
/// in-process tests simple.
pub fn init(cfg: &LogConfig) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).unwrap_or_else(|e| {
            eprintln!("RUST_LOG={v:?} is not a valid filter ({e}); using log.level");
            EnvFilter::new(&cfg.level)
        }),
        // PostgreSQL's notices ("relation _sqlx_migrations already exists, skipping" at every
        // start) are the server's chatter, not ours: only warnings and above are shown.
        _ => EnvFilter::new(&cfg.level).add_directive(QUIET_NOTICES.parse().expect("a directive")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match cfg.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // Err only means a subscriber is already installed.
    drop(result);
}
