//! Client and server keys, and encryption of tensors.
//!
//! The client encrypts *stored* integers (logical value + offset) in the
//! whole `message × carry` space; fresh ciphertexts can be made seeded
//! (compressed), about half the size. The server key holds only evaluation
//! keys.

use rayon::prelude::*;
use silc_sim::Tensor;
use tfhe::shortint::{ClientKey, CompressedCiphertext, MessageModulus, ServerKey};

use crate::exec::CtTensor;
use crate::params::Candidate;

pub struct ClientKeys {
    pub key: ClientKey,
    pub precision: u32,
}

pub struct ServerKeys {
    pub key: ServerKey,
    pub precision: u32,
    /// The precise bootstrapping key, for circuits with an `ext_dot`.
    pub precise: Option<crate::external::PreciseKey>,
}

impl ClientKeys {
    pub fn new(c: &Candidate, precision: u32) -> Self {
        ClientKeys { key: ClientKey::new(c.params), precision }
    }

    pub fn server_keys(&self) -> ServerKeys {
        ServerKeys { key: ServerKey::new(&self.key), precision: self.precision, precise: None }
    }

    fn space(&self) -> u64 {
        1u64 << self.precision
    }

    /// Encrypts stored values (each must lie in `[0, 2^p)`).
    pub fn encrypt(&self, t: &Tensor) -> CtTensor {
        let space = self.space();
        let cts = t
            .data
            .par_iter()
            .map(|&v| {
                assert!((0..space as i64).contains(&v), "stored value {v} outside [0, {space})");
                self.key.unchecked_encrypt(v as u64)
            })
            .collect();
        CtTensor { shape: t.shape.clone(), cts }
    }

    /// Seeded encryptions: what a client uploads.
    pub fn encrypt_compressed(&self, t: &Tensor) -> Vec<CompressedCiphertext> {
        let space = self.space();
        t.data
            .par_iter()
            .map(|&v| {
                assert!((0..space as i64).contains(&v), "stored value {v} outside [0, {space})");
                self.key.encrypt_with_message_modulus_compressed(v as u64, MessageModulus(space))
            })
            .collect()
    }

    /// Seeded encryptions of stored values `v` at their torus positions `v/m`
    /// (a residue of `torus m`; a grid value has `m = 2^(p+1)`): a `form`
    /// of the samples (`passes::forms`). The zero encrypted with its seed,
    /// its body moved by the phase, as the server's own answers would hold.
    pub fn encrypt_at_compressed(&self, values: &[(i64, i64)]) -> Vec<CompressedCiphertext> {
        let space = self.space();
        values
            .par_iter()
            .map(|&(v, m)| {
                let mut c = self.key.encrypt_with_message_modulus_compressed(0, MessageModulus(space));
                let body = c.ct.get_mut_body();
                *body.data = body.data.wrapping_add(crate::torus::phase(v, m));
                c
            })
            .collect()
    }

    /// The forms of one step (`silc_sim::forms`) computed from the logical
    /// inputs `plain` in the clear and encrypted, by name: what the server
    /// takes beside the step's inputs (`silc_tfhe::train` assembles them
    /// from the job's per-sample slices instead).
    pub fn encrypt_forms(
        &self,
        g: &silc_ir::Graph,
        plain: &std::collections::HashMap<String, Tensor>,
    ) -> Result<Vec<(String, CtTensor)>, String> {
        let values = silc_sim::forms(g, plain).map_err(|e| format!("computing the forms: {e}"))?;
        Ok(silc_sim::forms::layout(g)
            .into_iter()
            .filter(|f| !f.ggsw)
            .map(|f| {
                let at: Vec<(i64, i64)> = values[&f.name].data.iter().map(|&v| (v, f.torus)).collect();
                let cts = self.encrypt_at_compressed(&at).par_iter().map(|c| c.decompress()).collect();
                (f.name, CtTensor { shape: f.shape, cts })
            })
            .collect())
    }

    /// The GGSW forms of one step (the first operands of the circuit's
    /// `ext_dot`s), from the logical inputs `plain`, by name.
    pub fn encrypt_ggsw_forms(
        &self,
        g: &silc_ir::Graph,
        plain: &std::collections::HashMap<String, Tensor>,
    ) -> Result<std::collections::HashMap<String, crate::exec::GgswTensor>, String> {
        let values = silc_sim::forms(g, plain).map_err(|e| format!("computing the forms: {e}"))?;
        Ok(silc_sim::forms::layout(g)
            .into_iter()
            .filter(|f| f.ggsw)
            .map(|f| {
                let logical: Vec<i64> = values[&f.name].data.iter().map(|&v| v - f.offset).collect();
                let items = self.encrypt_ggsw(&logical);
                (f.name, crate::exec::GgswTensor { shape: f.shape, items })
            })
            .collect())
    }

    /// Decrypts to stored values in `[0, 2^p)`.
    pub fn decrypt(&self, t: &CtTensor) -> Tensor {
        let data = t.cts.par_iter().map(|ct| self.key.decrypt_message_and_carry(ct) as i64).collect();
        Tensor::new(t.shape.clone(), data)
    }
}
