//! The compiled artifact (`.silc`): magic bytes, a format version, a JSON
//! header (model, precision, parameter set, quantization) and the circuit in
//! the IR's text form.
//!
//! ```text
//! b"SILCMODL" | u32 LE format version | u32 LE header length | header JSON
//!             | u32 LE circuit length | circuit text
//! ```

use serde::Serialize;

pub const MAGIC: &[u8; 8] = b"SILCMODL";
pub const VERSION: u32 = 1;

#[derive(Serialize)]
pub struct Header<'a> {
    pub model: &'a silc_frontend::ModelSpec,
    pub precision: u32,
    pub parameter_set: &'a str,
    pub quant: &'a silc_passes::Quant,
}

pub fn encode(header: &Header<'_>, circuit: &str) -> Vec<u8> {
    let head = serde_json::to_vec(header).expect("the header serializes");
    let mut out = Vec::with_capacity(16 + head.len() + circuit.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&(circuit.len() as u32).to_le_bytes());
    out.extend_from_slice(circuit.as_bytes());
    out
}
