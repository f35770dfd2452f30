//! The compiled artifact (`.silc`): a [`crate::container`] with magic
//! `SILCMODL`, a JSON header (the model, its precision, the default parameter
//! set and the quantization) and one section, `circuit`, holding the lowered
//! circuit in the IR's text form.

use serde::Serialize;

pub const MAGIC: &[u8; 8] = b"SILCMODL";

#[derive(Serialize)]
pub struct Header<'a> {
    pub model: &'a silc_frontend::ModelSpec,
    pub precision: u32,
    pub parameter_set: &'a str,
    pub quant: &'a silc_passes::Quant,
}

pub fn encode(header: &Header<'_>, circuit: &str) -> Vec<u8> {
    let value = serde_json::to_value(header).expect("the header serializes");
    let mut w = crate::container::Writer::new(Vec::new(), MAGIC, &value).expect("in memory");
    w.section("circuit", circuit.as_bytes()).expect("in memory");
    w.finish().expect("in memory")
}
