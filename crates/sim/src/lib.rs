//! silc's cleartext executor: runs a circuit graph of any stage on plain
//! integers with exactly the semantics the tfhe backend gives.
//!
//! Values are held as *stored* integers (what a ciphertext would decrypt to,
//! `logical + offset`). Leveled arithmetic wraps modulo `2^(p+1)` (the padding
//! bit included) and a table lookup on an input in the padding half returns
//! the negated entry, as TFHE does; high-level ops use the reference
//! semantics of `silc_ir::semantics` on logical values. Large elementwise ops
//! and matrix products run in parallel with rayon. Around the executor: the
//! client's quantization ([`data`]), the client's forms of each sample
//! ([`forms`]), the integer trainer that loops the compiled step
//! ([`train`]) and the float32 reference trainer ([`float`]).
//! Architecture invariant: no file IO, no tfhe-rs.

pub mod data;
pub mod exec;
pub mod float;
pub mod forms;
pub mod rng;
pub mod tensor;
pub mod train;

pub use exec::{execute, execute_at, forms, SimError};
pub use tensor::Tensor;
