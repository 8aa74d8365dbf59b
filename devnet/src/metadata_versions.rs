//! One runtime's metadata in every version a node serves. A real node answers
//! `Metadata_metadata_versions` with `[14, 15, 16]`, `Metadata_metadata_at_version(v)` with
//! each, and `state_getMetadata` / `Metadata_metadata` with V14. Clients pick what they read:
//! subxt the newest, the Python SDK V15, older tools V14. The devnet's metadata (its own, or a
//! `--metadata` file) is V16; the older versions are derived from it downwards, dropping what
//! V16 added (deprecation notes, view functions, associated types, extension versions), as a
//! node that only knew V15 would never have had it. Types keep their ids: only types the older
//! versions need and V16 does not have are appended to the registry.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed, v14, v15, v16};
use scale_info::form::PortableForm;
use scale_info::{
    Field, Path, PortableRegistry, PortableType, Type, TypeDef, TypeDefComposite, TypeDefPrimitive,
    TypeDefSequence, TypeDefTuple, TypeParameter,
};
use subxt::ext::codec::{Decode, Encode};

/// Metadata (SCALE `RuntimeMetadataPrefixed`) by version.
pub type Versions = BTreeMap<u32, Vec<u8>>;

/// The versions a node would serve of `bytes` (a `RuntimeMetadataPrefixed`): V16 gives 14, 15 and
/// 16; V15 gives 14 and 15; V14 only itself.
pub fn versions(bytes: &[u8]) -> anyhow::Result<Versions> {
    let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..])
        .context("the metadata is not SCALE RuntimeMetadataPrefixed")?;
    let mut out = Versions::new();
    match prefixed.1 {
        RuntimeMetadata::V16(m) => {
            let older = v15_of(&m);
            out.insert(14, prefixed_bytes(RuntimeMetadata::V14(v14_of(&older))));
            out.insert(15, prefixed_bytes(RuntimeMetadata::V15(older)));
            out.insert(16, bytes.to_vec());
        }
        RuntimeMetadata::V15(m) => {
            out.insert(14, prefixed_bytes(RuntimeMetadata::V14(v14_of(&m))));
            out.insert(15, bytes.to_vec());
        }
        RuntimeMetadata::V14(_) => {
            out.insert(14, bytes.to_vec());
        }
        other => bail!("metadata V{} is older than V14", other.version()),
    }
    Ok(out)
}

fn prefixed_bytes(m: RuntimeMetadata) -> Vec<u8> {
    RuntimeMetadataPrefixed(frame_metadata::META_RESERVED, m).encode()
}

/// Appends `ty` to the registry; its id.
fn append(types: &mut PortableRegistry, ty: Type<PortableForm>) -> u32 {
    let id = types.types.len() as u32;
    types.types.push(PortableType::new(id, ty));
    id
}

fn path(segments: &[&str]) -> Path<PortableForm> {
    Path {
        segments: segments.iter().map(|s| s.to_string()).collect(),
    }
}

fn find(types: &PortableRegistry, wanted: impl Fn(&Type<PortableForm>) -> bool) -> Option<u32> {
    types.types.iter().find(|t| wanted(&t.ty)).map(|t| t.id)
}

/// V16 → V15: the same pallets, types and runtime APIs without V16's additions; the extrinsic
/// as V15 describes it (format version 4, its extensions as one `extra` tuple).
fn v15_of(m: &v16::RuntimeMetadataV16) -> v15::RuntimeMetadataV15 {
    let mut types = m.types.clone();
    let x = &m.extrinsic;
    // Version-4 extrinsics carry the extensions of extension version 0.
    let extensions: Vec<&v16::TransactionExtensionMetadata<PortableForm>> = x
        .transaction_extensions_by_version
        .get(&0)
        .map(|ids| {
            ids.iter()
                .filter_map(|i| x.transaction_extensions.get(i.0 as usize))
                .collect()
        })
        .unwrap_or_else(|| x.transaction_extensions.iter().collect());
    let extra = Type {
        path: Path::default(),
        type_params: Vec::new(),
        type_def: TypeDef::Tuple(TypeDefTuple {
            fields: extensions.iter().map(|e| e.ty).collect(),
        }),
        docs: Vec::new(),
    };
    let extra_ty = append(&mut types, extra);
    let runtime = find(&types, |t| t.path.ident().as_deref() == Some("Runtime"))
        .unwrap_or_else(|| append(&mut types, unit("Runtime")));
    v15::RuntimeMetadataV15 {
        pallets: m.pallets.iter().map(pallet_v15).collect(),
        extrinsic: v15::ExtrinsicMetadata {
            version: 4,
            address_ty: x.address_ty,
            call_ty: x.call_ty,
            signature_ty: x.signature_ty,
            extra_ty: extra_ty.into(),
            signed_extensions: extensions
                .iter()
                .map(|e| v15::SignedExtensionMetadata {
                    identifier: e.identifier.clone(),
                    ty: e.ty,
                    additional_signed: e.implicit,
                })
                .collect(),
        },
        ty: runtime.into(),
        apis: m.apis.iter().map(api_v15).collect(),
        outer_enums: m.outer_enums.clone(),
        custom: m.custom.clone(),
        types,
    }
}

/// A unit struct named `name` in the devnet's runtime.
fn unit(name: &str) -> Type<PortableForm> {
    Type {
        path: path(&["node_subtensor_runtime", name]),
        type_params: Vec::new(),
        type_def: TypeDef::Composite(TypeDefComposite { fields: Vec::new() }),
        docs: Vec::new(),
    }
}

fn pallet_v15(p: &v16::PalletMetadata<PortableForm>) -> v15::PalletMetadata<PortableForm> {
    v15::PalletMetadata {
        name: p.name.clone(),
        storage: p.storage.as_ref().map(|s| v14::PalletStorageMetadata {
            prefix: s.prefix.clone(),
            entries: s
                .entries
                .iter()
                .map(|e| v14::StorageEntryMetadata {
                    name: e.name.clone(),
                    modifier: e.modifier.clone(),
                    ty: e.ty.clone(),
                    default: e.default.clone(),
                    docs: e.docs.clone(),
                })
                .collect(),
        }),
        calls: p
            .calls
            .as_ref()
            .map(|c| v14::PalletCallMetadata { ty: c.ty }),
        event: p
            .event
            .as_ref()
            .map(|e| v14::PalletEventMetadata { ty: e.ty }),
        constants: p
            .constants
            .iter()
            .map(|c| v14::PalletConstantMetadata {
                name: c.name.clone(),
                ty: c.ty,
                value: c.value.clone(),
                docs: c.docs.clone(),
            })
            .collect(),
        error: p
            .error
            .as_ref()
            .map(|e| v14::PalletErrorMetadata { ty: e.ty }),
        index: p.index,
        docs: p.docs.clone(),
    }
}

fn api_v15(a: &v16::RuntimeApiMetadata<PortableForm>) -> v15::RuntimeApiMetadata<PortableForm> {
    v15::RuntimeApiMetadata {
        name: a.name.clone(),
        methods: a
            .methods
            .iter()
            .map(|m| v15::RuntimeApiMethodMetadata {
                name: m.name.clone(),
                inputs: m.inputs.clone(),
                output: m.output,
                docs: m.docs.clone(),
            })
            .collect(),
        docs: a.docs.clone(),
    }
}

/// V15 → V14: the pallets without docs; the extrinsic as one `UncheckedExtrinsic` type whose
/// type parameters name its address, call, signature and extra (where V14 readers find them).
fn v14_of(m: &v15::RuntimeMetadataV15) -> v14::RuntimeMetadataV14 {
    let mut types = m.types.clone();
    let x = &m.extrinsic;
    let u8_id = match find(&types, |t| {
        t.type_def == TypeDef::Primitive(TypeDefPrimitive::U8)
    }) {
        Some(id) => id,
        None => append(&mut types, primitive(TypeDefPrimitive::U8)),
    };
    let bytes = append(
        &mut types,
        Type {
            path: Path::default(),
            type_params: Vec::new(),
            type_def: TypeDef::Sequence(TypeDefSequence {
                type_param: u8_id.into(),
            }),
            docs: Vec::new(),
        },
    );
    let param = |name: &str, ty: u32| TypeParameter {
        name: name.to_string(),
        ty: Some(ty.into()),
    };
    let extrinsic = Type {
        path: path(&[
            "sp_runtime",
            "generic",
            "unchecked_extrinsic",
            "UncheckedExtrinsic",
        ]),
        type_params: vec![
            param("Address", x.address_ty.id),
            param("Call", x.call_ty.id),
            param("Signature", x.signature_ty.id),
            param("Extra", x.extra_ty.id),
        ],
        type_def: TypeDef::Composite(TypeDefComposite {
            fields: vec![Field {
                name: None,
                ty: bytes.into(),
                type_name: Some("Vec<u8>".into()),
                docs: Vec::new(),
            }],
        }),
        docs: Vec::new(),
    };
    let extrinsic_ty = append(&mut types, extrinsic);
    v14::RuntimeMetadataV14 {
        pallets: m
            .pallets
            .iter()
            .map(|p| v14::PalletMetadata {
                name: p.name.clone(),
                storage: p.storage.clone(),
                calls: p.calls.clone(),
                event: p.event.clone(),
                constants: p.constants.clone(),
                error: p.error.clone(),
                index: p.index,
            })
            .collect(),
        extrinsic: v14::ExtrinsicMetadata {
            ty: extrinsic_ty.into(),
            version: x.version,
            signed_extensions: x
                .signed_extensions
                .iter()
                .map(|e| v14::SignedExtensionMetadata {
                    identifier: e.identifier.clone(),
                    ty: e.ty,
                    additional_signed: e.additional_signed,
                })
                .collect(),
        },
        ty: m.ty,
        types,
    }
}

fn primitive(p: TypeDefPrimitive) -> Type<PortableForm> {
    Type {
        path: Path::default(),
        type_params: Vec::new(),
        type_def: TypeDef::Primitive(p),
        docs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The storage entries, calls and events of every pallet, as subxt reads them.
    fn surface(bytes: &[u8]) -> Vec<String> {
        let md = subxt::Metadata::decode_from(bytes).expect("subxt reads it");
        let mut out = Vec::new();
        for p in md.pallets() {
            for e in p.storage().map(|s| s.entries()).unwrap_or_default() {
                out.push(format!("{}.{} {:?}", p.name(), e.name(), e.keys().count()));
            }
            for c in p.call_variants().unwrap_or_default() {
                out.push(format!("{} call {} {}", p.name(), c.index, c.name));
            }
            for e in p.event_variants().unwrap_or_default() {
                out.push(format!("{} event {} {}", p.name(), e.index, e.name));
            }
        }
        out
    }

    #[test]
    fn the_devnet_metadata_in_v14_v15_and_v16_describes_one_runtime() {
        let v16 = crate::metadata::build();
        let all = versions(&v16).unwrap();
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![14, 15, 16]);
        for (v, bytes) in &all {
            assert_eq!(u32::from(bytes[4]), *v, "version byte");
        }
        let want = surface(&v16);
        assert!(
            want.iter()
                .any(|s| s.starts_with("SubtensorModule.Weights"))
        );
        assert_eq!(surface(&all[&15]), want);
        assert_eq!(surface(&all[&14]), want);
        // The extrinsic's parts are where V14 readers look for them.
        let md = subxt::Metadata::decode_from(&all[&14][..]).unwrap();
        let names: Vec<&str> = md
            .extrinsic()
            .transaction_extensions_by_version(0)
            .map(|e| e.map(|x| x.identifier()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"CheckNonce"), "{names:?}");
    }
}
