//! The client/server commands, one module each: `keygen`, `encrypt`, `run`,
//! `decrypt` and `bench-engine`; [`cts`] holds the ciphertext sections they
//! share, and [`share`] where `run` gets its bytes (the file, or rank 0 of
//! an MPI job).
//!
//! Every file is a [`crate::container`] (checksummed sections) whose header
//! names the model, the precision, the tfhe-rs parameter set, a hash of the
//! circuit and the *key id* of the key pair it belongs to, so that a key, a
//! job and trained weights made for different models or keys are told apart
//! with a clear error. Secret material (the client key and the training
//! set's standardization) stays in the keys folder; the job file holds only
//! the circuit, the server key and ciphertexts, and `run` refuses anything
//! else.

mod bench;
mod cts;
mod decrypt;
mod encrypt;
mod keygen;
mod run;
mod share;

pub use bench::{bench, BenchArgs};
pub use decrypt::{decrypt, DecryptArgs};
pub use encrypt::{encrypt, EncryptArgs};
pub use keygen::{keygen, KeygenArgs};
pub use run::{run, RunArgs};

use std::path::Path;

use bincode::Options;
use silc_ir::{Graph, Quant};
use silc_tfhe::ClientKeys;
use tfhe::shortint::ClientKey;
use tfhe::{Unversionize, Versionize};

use crate::container::{self, Writer};

/// Objects larger than this are refused on load (a corrupted length must not
/// make us allocate the machine's memory).
const KEY_LIMIT: u64 = 4 << 30;
const CT_LIMIT: u64 = 1 << 24;
/// One sample's GGSW list: 64 KiB per value, seeded.
const GGSW_LIMIT: u64 = 1 << 30;

/// FNV-1a of the circuit text: ties keys, jobs and results to one circuit.
fn circuit_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The id of a key pair: BLAKE3 of the serialized (seeded) server key and,
/// for a circuit with external products, the precise key after it, in hex.
/// Both key files carry it, and so does every job and result made with
/// them.
fn key_id(server_key: &[u8], precise: Option<&[u8]>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(server_key);
    if let Some(p) = precise {
        h.update(p);
    }
    h.finalize().as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A compiled model read back from its artifact.
pub struct Model {
    pub spec: silc_frontend::ModelSpec,
    pub quant: Quant,
    pub graph: Graph,
    pub hash: String,
}

pub fn load_model(path: &Path) -> Result<Model, String> {
    let name = path.display().to_string();
    let bytes = container::read_all(path)?;
    let c = container::parse(&name, &bytes, crate::artifact::MAGIC)?;
    let spec = serde_json::from_value(c.header["model"].clone())
        .map_err(|e| format!("error: {name}: the header's `model` is not a model: {e}"))?;
    let quant = serde_json::from_value(c.header["quant"].clone())
        .map_err(|e| format!("error: {name}: the header's `quant` is not a quantization: {e}"))?;
    let text = std::str::from_utf8(c.section(&name, "circuit")?)
        .map_err(|_| format!("error: {name}: section `circuit` is not UTF-8 text"))?;
    let graph = silc_ir::read::read(text).map_err(|e| format!("error: {name}: section `circuit`: {e}"))?;
    Ok(Model { spec, quant, graph, hash: circuit_hash(text) })
}

/// Whether the circuit multiplies by external products (`silc compile
/// --external-products`): its keys then carry the precise bootstrapping
/// key, and its jobs the samples' GGSW ciphertexts.
pub fn external(g: &Graph) -> bool {
    g.ids().any(|i| matches!(g.node(i).op, silc_ir::Op::ExtDot { .. }))
}

/// tfhe-rs 1.8's shortint keys and seeded ciphertexts are versioned but not
/// `Named`, which its `safe_serialize` requires; they are stored as their
/// versioned form with bincode, and read back under a size limit. (The
/// container around them plays the part of safe serialization's header.)
fn ser<T: Versionize>(x: &T) -> Vec<u8> {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .serialize(&x.versionize())
        .expect("serialization to memory cannot fail")
}

fn de<T: Unversionize>(bytes: &[u8], limit: u64) -> Result<T, String> {
    let opts = bincode::DefaultOptions::new().with_fixint_encoding().with_limit(limit);
    let v: T::VersionedOwned = opts.deserialize(bytes).map_err(|e| e.to_string())?;
    T::unversionize(v).map_err(|e| e.to_string())
}

fn write_file<S: AsRef<str>>(
    path: &Path,
    magic: &[u8; 8],
    header: serde_json::Value,
    sections: &[(S, Vec<u8>)],
) -> Result<(), String> {
    let mut w = Writer::new(Vec::new(), magic, &header).expect("in memory");
    for (tag, body) in sections {
        w.section(tag.as_ref(), body).expect("in memory");
    }
    crate::io::write_atomic(path, &w.finish().expect("in memory"))
}

struct KeyFile {
    header: serde_json::Value,
    key: Vec<u8>,
    /// The seeded precise bootstrapping key, in a server key file of a
    /// circuit with external products.
    precise: Option<Vec<u8>>,
}

impl KeyFile {
    fn key_id(&self) -> &str {
        self.header.get("key_id").and_then(|v| v.as_str()).unwrap_or("")
    }
}

fn read_key(path: &Path, magic: &[u8; 8], m: &Model) -> Result<KeyFile, String> {
    let name = path.display().to_string();
    let bytes = container::read_all(path)?;
    let c = container::parse(&name, &bytes, magic)?;
    if c.str("circuit") != m.hash {
        return Err(format!(
            "error: {name} was made for another circuit (model `{}`); run `silc keygen` on this model",
            c.str("model")
        ));
    }
    let precise =
        if magic == b"SILCSKEY" && external(&m.graph) { Some(c.section(&name, "precise-key")?.to_vec()) } else { None };
    Ok(KeyFile { header: c.header.clone(), key: c.section(&name, "key")?.to_vec(), precise })
}

/// Decodes a client key section (bounded, conformance left to the caller).
fn client_key(name: &str, bytes: &[u8], precision: u32) -> Result<ClientKeys, String> {
    let key: ClientKey =
        de(bytes, KEY_LIMIT).map_err(|e| format!("error: {name}: section `key` is not a client key: {e}"))?;
    Ok(ClientKeys { key, precision })
}

#[cfg(test)]
mod fuzz;
