//! `tenure chain check`: is a runtime compatible with tenure, item by item.

use std::process::ExitCode;

use super::async_runtime;

fn chain_check_report(source: &str, findings: &[crate::chain::check::Finding]) -> ExitCode {
    println!("# tenure chain check: {source}");
    match crate::chain::check::report(findings, &mut std::io::stdout()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

pub(super) fn chain_check_file(file: &std::path::Path) -> ExitCode {
    let metadata = std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| subxt::Metadata::decode_from(&bytes[..]).map_err(|e| e.to_string()));
    match metadata {
        Ok(md) => chain_check_report(
            &file.display().to_string(),
            &crate::chain::check::check(&md),
        ),
        Err(e) => {
            eprintln!("error: {}: not runtime metadata: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

pub(super) fn chain_check_node(endpoints: Vec<String>) -> ExitCode {
    let Some(runtime) = async_runtime() else {
        return ExitCode::from(2);
    };
    let source = endpoints.join(", ");
    let cfg = crate::config::ChainConfig {
        endpoints,
        ..Default::default()
    };
    let client =
        crate::chain::client::ChainClient::new(crate::chain::client::Settings::from_config(&cfg));
    match runtime.block_on(client.check_runtime()) {
        Ok((block, findings)) => {
            chain_check_report(&format!("{source} at block {block}"), &findings)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
