//! Every storage item, call, event and transaction extension the devnet's own metadata declares
//! has the real runtime's name, index and SCALE shape (finney, spec 393). Type paths and ids are
//! ignored; structure, field names, variant names and indices are compared.

use crate::common;

use scale_info::{PortableRegistry, TypeDef};
use subxt::Metadata;

/// A structural description of a type, independent of type ids and paths.
fn shape(t: &PortableRegistry, id: u32) -> String {
    shape_with(t, id, None)
}

/// As [`shape`], with the type `opaque` (and only its contents) described as `<opaque>`.
fn shape_with(t: &PortableRegistry, id: u32, opaque: Option<u32>) -> String {
    if Some(id) == opaque {
        return "<opaque>".into();
    }
    let shape = |t: &PortableRegistry, id: u32| shape_with(t, id, opaque);
    let Some(ty) = t.resolve(id) else {
        return format!("<unresolved #{id}>");
    };
    let fields = |fs: &[scale_info::Field<scale_info::form::PortableForm>]| {
        fs.iter()
            .map(|f| format!("{}:{}", f.name.as_deref().unwrap_or(""), shape(t, f.ty.id)))
            .collect::<Vec<_>>()
            .join(",")
    };
    match &ty.type_def {
        TypeDef::Composite(c) => format!("{{{}}}", fields(&c.fields)),
        TypeDef::Variant(v) => format!(
            "<{}>",
            v.variants
                .iter()
                .map(|x| format!("{}@{}({})", x.name, x.index, fields(&x.fields)))
                .collect::<Vec<_>>()
                .join("|")
        ),
        TypeDef::Sequence(s) => format!("Vec<{}>", shape(t, s.type_param.id)),
        TypeDef::Array(a) => format!("[{};{}]", shape(t, a.type_param.id), a.len),
        TypeDef::Tuple(tu) => format!(
            "({})",
            tu.fields
                .iter()
                .map(|f| shape(t, f.id))
                .collect::<Vec<_>>()
                .join(",")
        ),
        TypeDef::Primitive(p) => format!("{p:?}"),
        TypeDef::Compact(c) => format!("Compact<{}>", shape(t, c.type_param.id)),
        TypeDef::BitSequence(_) => "bits".into(),
    }
}

type Variant = scale_info::Variant<scale_info::form::PortableForm>;

/// A call or event variant of the devnet against finney's: same index, same fields.
fn compare_variant(
    what: &str,
    own: &Variant,
    real: Option<&Variant>,
    (ot, rt): (&PortableRegistry, &PortableRegistry),
    problems: &mut Vec<String>,
) {
    let Some(real) = real else {
        problems.push(format!("{what}.{} missing from finney", own.name));
        return;
    };
    let fields = |v: &Variant, t: &PortableRegistry| {
        v.fields
            .iter()
            .map(|x| format!("{}:{}", x.name.as_deref().unwrap_or(""), shape(t, x.ty.id)))
            .collect::<Vec<_>>()
    };
    if own.index != real.index || fields(own, ot) != fields(real, rt) {
        problems.push(format!(
            "{what}.{}@{} {:?} vs finney @{} {:?}",
            own.name,
            own.index,
            fields(own, ot),
            real.index,
            fields(real, rt)
        ));
    }
}

fn finney() -> Metadata {
    let bytes = std::fs::read(common::finney_metadata()).expect("the finney fixture is readable");
    Metadata::decode_from(&bytes[..]).expect("finney metadata decodes")
}

#[test]
fn own_metadata_matches_finney_item_by_item() {
    let real = finney();
    let own =
        Metadata::decode_from(&tenure_devnet::metadata::build()[..]).expect("own metadata decodes");
    let (ot, rt) = (own.types(), real.types());
    let mut checked = 0;
    let mut problems = Vec::new();

    for pallet in own.pallets() {
        let name = pallet.name();
        let Some(real_pallet) = real.pallet_by_name(name) else {
            problems.push(format!("pallet {name} missing from finney"));
            continue;
        };
        if pallet.call_index() != real_pallet.call_index() {
            problems.push(format!(
                "pallet {name}: index {} vs {}",
                pallet.call_index(),
                real_pallet.call_index()
            ));
        }
        for e in pallet.storage().map(|s| s.entries()).unwrap_or_default() {
            let item = format!("{name}.{}", e.name());
            let Some(r) = real_pallet
                .storage()
                .and_then(|s| s.entry_by_name(e.name()))
            else {
                problems.push(format!("{item}: missing from finney"));
                continue;
            };
            let keys = |m: &subxt::metadata::StorageEntryMetadata, t: &PortableRegistry| {
                m.keys()
                    .map(|k| format!("{:?} {}", k.hasher, shape(t, k.key_id)))
                    .collect::<Vec<_>>()
            };
            if keys(e, ot) != keys(r, rt) {
                problems.push(format!(
                    "{item}: keys {:?} vs finney {:?}",
                    keys(e, ot),
                    keys(r, rt)
                ));
            }
            // The outer event enum of the real runtime has every pallet's events; the devnet's
            // event variants are compared one by one below, so here it is opaque.
            let (ov, rv) = (
                shape_with(ot, e.value_ty(), Some(own.outer_enums().event_enum_ty())),
                shape_with(rt, r.value_ty(), Some(real.outer_enums().event_enum_ty())),
            );
            if ov != rv {
                problems.push(format!("{item}: value {ov} vs finney {rv}"));
            }
            if e.default_value() != r.default_value() {
                problems.push(format!(
                    "{item}: default {:?} vs finney {:?}",
                    e.default_value(),
                    r.default_value()
                ));
            }
            checked += 1;
        }
        for v in pallet.call_variants().unwrap_or_default() {
            let r = real_pallet.call_variant_by_name(&v.name);
            compare_variant(&format!("call {name}"), v, r, (ot, rt), &mut problems);
            checked += 1;
        }
        for v in pallet.error_variants().unwrap_or_default() {
            match real_pallet
                .error_variants()
                .and_then(|vs| vs.iter().find(|x| x.name == v.name))
            {
                Some(r) if r.index == v.index && r.fields.is_empty() && v.fields.is_empty() => {}
                Some(r) => problems.push(format!(
                    "error {name}.{}@{} vs finney @{}",
                    v.name, v.index, r.index
                )),
                None => problems.push(format!("error {name}.{} missing from finney", v.name)),
            }
            checked += 1;
        }
        for v in pallet.event_variants().unwrap_or_default() {
            let r = real_pallet
                .event_variants()
                .and_then(|vs| vs.iter().find(|x| x.name == v.name));
            compare_variant(&format!("event {name}"), v, r, (ot, rt), &mut problems);
            checked += 1;
        }
    }

    // Transaction extensions: finney's list, with the newer runtimes' wrapper in place of
    // ChargeTransactionPayment; every shared extension with the same value and implicit types.
    let exts = |m: &Metadata| -> Vec<(String, String, String)> {
        m.extrinsic()
            .transaction_extensions_by_version(0)
            .expect("extension version 0")
            .map(|e| {
                (
                    e.identifier().to_string(),
                    shape(m.types(), e.extra_ty()),
                    shape(m.types(), e.additional_ty()),
                )
            })
            .collect()
    };
    let (own_exts, real_exts) = (exts(&own), exts(&real));
    let names = |l: &[(String, String, String)]| l.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    let expected: Vec<String> = names(&real_exts)
        .into_iter()
        .map(|n| {
            if n == "ChargeTransactionPayment" {
                "ChargeTransactionPaymentWrapper".into()
            } else {
                n
            }
        })
        .collect();
    assert_eq!(names(&own_exts), expected);
    for (o, r) in own_exts.iter().zip(&real_exts) {
        if o.0 == r.0 && (o.1 != r.1 || o.2 != r.2) {
            problems.push(format!(
                "extension {}: {:?} vs finney {:?}",
                o.0,
                (&o.1, &o.2),
                (&r.1, &r.2)
            ));
        }
    }
    // The wrapper carries the same Compact tip as the extension it wraps.
    let wrapper = own_exts
        .iter()
        .find(|e| e.0 == "ChargeTransactionPaymentWrapper")
        .unwrap();
    let plain = real_exts
        .iter()
        .find(|e| e.0 == "ChargeTransactionPayment")
        .unwrap();
    assert_eq!((&wrapper.1, &wrapper.2), (&plain.1, &plain.2));

    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked >= 75, "only {checked} items compared");
    println!("{checked} items conform");
}

#[test]
fn conformance_detects_a_difference() {
    // The comparison itself can fail: finney's own Tempo (U16) differs in shape from its
    // LastMechansimStepBlock (U64).
    let real = finney();
    let p = real
        .pallet_by_name("SubtensorModule")
        .unwrap()
        .storage()
        .unwrap();
    let (a, b) = (
        p.entry_by_name("Tempo").unwrap(),
        p.entry_by_name("LastMechansimStepBlock").unwrap(),
    );
    assert_ne!(
        shape(real.types(), a.value_ty()),
        shape(real.types(), b.value_ty())
    );
    // A call compared with another one is reported, with both indices.
    let own = Metadata::decode_from(&tenure_devnet::metadata::build()[..]).unwrap();
    let set = own
        .pallet_by_name("SubtensorModule")
        .and_then(|p| p.call_variant_by_name("set_weights"))
        .unwrap();
    let other = real
        .pallet_by_name("SubtensorModule")
        .and_then(|p| p.call_variant_by_name("set_mechanism_weights"));
    let mut problems = Vec::new();
    compare_variant(
        "call",
        set,
        other,
        (own.types(), real.types()),
        &mut problems,
    );
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("@0") && problems[0].contains("@119"),
        "{problems:?}"
    );
    compare_variant(
        "call",
        set,
        None,
        (own.types(), real.types()),
        &mut problems,
    );
    assert!(problems[1].contains("missing"));
}
