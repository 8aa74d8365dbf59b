//! Ground truth: with `--ledger FILE` the devnet writes, as JSON lines, everything that really
//! happened — emissions, stake operations and every resulting change of a coldkey's alpha on a
//! hotkey, registrations, owner changes and swaps — so tests can compare tenure's database with
//! it. Accounts are SS58.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{Value, json};

/// An account in SS58 with Bittensor's prefix 42 (subxt's encoding).
pub fn ss58(a: &[u8; 32]) -> String {
    subxt::utils::AccountId32(*a).to_string()
}

#[derive(Default)]
pub struct Ledger {
    out: Option<BufWriter<File>>,
    /// The current block's entries, written when the block is sealed.
    pending: Vec<Value>,
}

impl Ledger {
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        Ok(Ledger {
            out: Some(BufWriter::new(File::create(path)?)),
            pending: Vec::new(),
        })
    }

    pub fn record(&mut self, block: u64, kind: &str, mut fields: Value) {
        if let Value::Object(map) = &mut fields {
            map.insert("block".into(), json!(block));
            map.insert("kind".into(), json!(kind));
        }
        self.pending.push(fields);
    }

    /// Writes the block's entries and flushes, so a reader sees whole blocks.
    pub fn flush_block(&mut self) -> std::io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        if let Some(out) = &mut self.out {
            for v in pending {
                serde_json::to_writer(&mut *out, &v)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        Ok(())
    }
}
