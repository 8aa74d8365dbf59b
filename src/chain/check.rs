//! `tenure chain check`: does a runtime have, with the expected types, every storage entry,
//! call, event and transaction extension tenure uses? Run it against a node or a metadata file
//! before a runtime upgrade reaches mainnet.

use scale_info::{PortableRegistry, TypeDef};
use subxt::Metadata;

/// One expectation and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub item: String,
    pub problem: Option<String>,
}

/// Storage entries: pallet, name, key shapes, value shape.
pub const STORAGE: &[StorageExpectation] = &[
    ("System", "Events", &[], "Vec<{}>"),
    ("Timestamp", "Now", &[], "U64"),
    ("SubtensorModule", "Keys", &["U16", "U16"], "[U8;32]"),
    ("SubtensorModule", "Uids", &["U16", "[U8;32]"], "U16"),
    ("SubtensorModule", "Owner", &["[U8;32]"], "[U8;32]"),
    ("SubtensorModule", "SubnetworkN", &["U16"], "U16"),
    ("SubtensorModule", "Tempo", &["U16"], "U16"),
    ("SubtensorModule", "ValidatorPermit", &["U16"], "Vec<Bool>"),
    (
        "SubtensorModule",
        "BlockAtRegistration",
        &["U16", "U16"],
        "U64",
    ),
    (
        "SubtensorModule",
        "TotalHotkeyAlpha",
        &["[U8;32]", "U16"],
        "U64",
    ),
    (
        "SubtensorModule",
        "TotalHotkeyShares",
        &["[U8;32]", "U16"],
        "U128",
    ),
    (
        "SubtensorModule",
        "Alpha",
        &["[U8;32]", "[U8;32]", "U16"],
        "U128",
    ),
    (
        "SubtensorModule",
        "StakingHotkeys",
        &["[U8;32]"],
        "Vec<[U8;32]>",
    ),
    (
        "SubtensorModule",
        "OwnedHotkeys",
        &["[U8;32]"],
        "Vec<[U8;32]>",
    ),
    ("SubtensorModule", "Emission", &["U16"], "Vec<U64>"),
    ("SubtensorModule", "LastMechansimStepBlock", &["U16"], "U64"),
    ("SubtensorModule", "LastUpdate", &["U16"], "Vec<U64>"),
    (
        "SubtensorModule",
        "Weights",
        &["U16", "U16"],
        "Vec<(U16,U16)>",
    ),
    (
        "SubtensorModule",
        "TimelockedWeightCommits",
        &["U16", "U64"],
        "Vec<([U8;32],U64,Vec<U8>,U64)>",
    ),
    ("SubtensorModule", "WeightsSetRateLimit", &["U16"], "U64"),
    ("SubtensorModule", "WeightsVersionKey", &["U16"], "U64"),
    (
        "SubtensorModule",
        "CommitRevealWeightsEnabled",
        &["U16"],
        "Bool",
    ),
    ("SubtensorModule", "CommitRevealWeightsVersion", &[], "U16"),
    ("SubtensorModule", "RevealPeriodEpochs", &["U16"], "U64"),
    ("SubtensorModule", "MinAllowedWeights", &["U16"], "U16"),
    ("SubtensorModule", "MaxWeightsLimit", &["U16"], "U16"),
    ("Drand", "LastStoredRound", &[], "U64"),
];

/// Calls: name, index, argument names.
pub const CALLS: &[(&str, u8, &[&str])] = &[
    (
        "set_weights",
        0,
        &["netuid", "dests", "weights", "version_key"],
    ),
    (
        "set_mechanism_weights",
        119,
        &["netuid", "mecid", "dests", "weights", "version_key"],
    ),
    (
        "commit_timelocked_weights",
        113,
        &["netuid", "commit", "reveal_round", "commit_reveal_version"],
    ),
    (
        "commit_timelocked_mechanism_weights",
        118,
        &[
            "netuid",
            "mecid",
            "commit",
            "reveal_round",
            "commit_reveal_version",
        ],
    ),
];

/// SubtensorModule events tenure decodes, with their field count.
pub const EVENTS: &[(&str, usize)] = &[
    ("WeightsSet", 2),
    ("TimelockedWeightsCommitted", 4),
    ("NeuronRegistered", 3),
    ("StakeAdded", 6),
    ("StakeRemoved", 6),
    ("StakeMoved", 6),
    ("AxonServed", 2),
];

/// A type's structure with single-field wrappers (AccountId32, NetUid, BoundedVec, fixed-point
/// bits) seen through, so expectations read like the Rust types they hold.
pub fn shape(types: &PortableRegistry, id: u32) -> String {
    let Some(ty) = types.resolve(id) else {
        return format!("<unresolved #{id}>");
    };
    match &ty.type_def {
        TypeDef::Composite(c) if c.fields.len() == 1 => shape(types, c.fields[0].ty.id),
        TypeDef::Composite(_) => "{}".into(),
        TypeDef::Variant(_) => "<enum>".into(),
        TypeDef::Sequence(s) => format!("Vec<{}>", shape(types, s.type_param.id)),
        TypeDef::Array(a) => format!("[{};{}]", shape(types, a.type_param.id), a.len),
        TypeDef::Tuple(t) => format!(
            "({})",
            t.fields
                .iter()
                .map(|f| shape(types, f.id))
                .collect::<Vec<_>>()
                .join(",")
        ),
        TypeDef::Primitive(p) => format!("{p:?}"),
        TypeDef::Compact(c) => format!("Compact<{}>", shape(types, c.type_param.id)),
        TypeDef::BitSequence(_) => "bits".into(),
    }
}

/// Checks `md` against everything tenure uses.
pub fn check(md: &Metadata) -> Vec<Finding> {
    check_against(md, STORAGE)
}

type StorageExpectation<'a> = (&'a str, &'a str, &'a [&'a str], &'a str);

fn check_against(md: &Metadata, storage: &[StorageExpectation]) -> Vec<Finding> {
    let types = md.types();
    let mut out = Vec::new();
    for (pallet, name, keys, value) in storage {
        let item = format!("storage {pallet}.{name}");
        let entry = md
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(name));
        let problem = match entry {
            None => Some("missing".to_string()),
            Some(e) => {
                let got_keys: Vec<String> = e.keys().map(|k| shape(types, k.key_id)).collect();
                let got_value = shape(types, e.value_ty());
                let want_keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                if got_keys != want_keys || got_value != *value {
                    Some(format!(
                        "keys {got_keys:?} value {got_value}, expected keys {want_keys:?} value {value}"
                    ))
                } else {
                    None
                }
            }
        };
        out.push(Finding { item, problem });
    }
    let subtensor = md.pallet_by_name("SubtensorModule");
    for (name, index, args) in CALLS {
        let item = format!("call SubtensorModule.{name}");
        let problem = match subtensor.and_then(|p| p.call_variant_by_name(name)) {
            None => Some("missing".to_string()),
            Some(v) => {
                let got: Vec<&str> = v.fields.iter().filter_map(|f| f.name.as_deref()).collect();
                if v.index != *index || got != *args {
                    Some(format!(
                        "index {} args {got:?}, expected index {index} args {args:?}",
                        v.index
                    ))
                } else {
                    None
                }
            }
        };
        out.push(Finding { item, problem });
    }
    for (name, fields) in EVENTS {
        let item = format!("event SubtensorModule.{name}");
        let problem = match subtensor
            .and_then(|p| p.event_variants())
            .and_then(|vs| vs.iter().find(|v| v.name == *name))
        {
            None => Some("missing".to_string()),
            Some(v) if v.fields.len() != *fields => {
                Some(format!("{} fields, expected {fields}", v.fields.len()))
            }
            Some(_) => None,
        };
        out.push(Finding { item, problem });
    }
    // Signing: the fee extension under either name, and no extension we cannot fill.
    let names: Vec<String> = md
        .extrinsic()
        .transaction_extensions_by_version(0)
        .map(|exts| exts.map(|e| e.identifier().to_string()).collect())
        .unwrap_or_default();
    let fee = names
        .iter()
        .any(|n| n == "ChargeTransactionPayment" || n == "ChargeTransactionPaymentWrapper");
    out.push(Finding {
        item: "transaction extension ChargeTransactionPayment(Wrapper)".into(),
        problem: (!fee).then(|| format!("neither present in {names:?}")),
    });
    out
}

/// The report as an operator reads it; true when everything is compatible.
pub fn report(findings: &[Finding], w: &mut impl std::io::Write) -> std::io::Result<bool> {
    let mut ok = true;
    for f in findings {
        match &f.problem {
            None => writeln!(w, "ok    {}", f.item)?,
            Some(p) => {
                ok = false;
                writeln!(w, "FAIL  {}: {p}", f.item)?;
            }
        }
    }
    let failed = findings.iter().filter(|f| f.problem.is_some()).count();
    writeln!(
        w,
        "{} of {} items compatible{}",
        findings.len() - failed,
        findings.len(),
        if ok {
            ""
        } else {
            "; tenure cannot run against this runtime"
        }
    )?;
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_devnet_runtime_passes_and_a_mismatch_fails() {
        let md = Metadata::decode_from(&tenure_devnet::metadata::build()[..]).unwrap();
        let findings = check(&md);
        assert!(findings.iter().all(|f| f.problem.is_none()), "{findings:?}");
        let mut out = Vec::new();
        assert!(report(&findings, &mut out).unwrap());

        // Expecting Tempo as u64 (or an item that does not exist) is reported, by item.
        let wrong: &[StorageExpectation] = &[
            ("SubtensorModule", "Tempo", &["U16"], "U64"),
            ("SubtensorModule", "NoSuchItem", &[], "U64"),
        ];
        let findings = check_against(&md, wrong);
        assert_eq!(
            findings[0].problem.as_deref(),
            Some("keys [\"U16\"] value U16, expected keys [\"U16\"] value U64")
        );
        assert_eq!(findings[1].problem.as_deref(), Some("missing"));
        let mut out = Vec::new();
        assert!(!report(&findings, &mut out).unwrap());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("FAIL  storage SubtensorModule.Tempo"),
            "{text}"
        );
        assert!(text.contains("12 of 14 items compatible"), "{text}");
    }
}
