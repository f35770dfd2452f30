//! silc's encrypted executor on tfhe-rs shortint.
//!
//! [`params`] maps a precision (and failure probability) to a tfhe-rs
//! parameter set; [`keys`] generates and uses the client and server keys;
//! [`exec`] runs a lowered circuit on ciphertexts with exactly the semantics of
//! the cleartext simulator: leveled ops are plain LWE arithmetic (they wrap
//! modulo `2^(p+1)`, the padding bit included), each table is one
//! programmable bootstrap generated once per run, and the bootstraps of one
//! scheduled wave run together on rayon's threads, a few at a time as one
//! batched blind rotation ([`batch`]), or, with the `mpi`
//! feature, across the ranks of an MPI job ([`cluster`]). [`external`] multiplies
//! by the client's GGSW ciphertexts, whose seeded upload (and the precise
//! key's) [`upload`] makes and checks. Architecture invariant:
//! the only crate that depends on tfhe-rs; a GPU backend would be a cargo
//! feature here, behind the same [`exec`] interface.

pub mod batch;
#[cfg(feature = "mpi")]
pub mod cluster;
pub mod exec;
pub mod external;
pub mod keys;
pub mod params;
pub mod torus;
pub mod train;
pub mod upload;

pub use exec::{execute, execute_at, execute_with, CtTensor, Engine, GgswTensor, Local, Spread};
pub use keys::{ClientKeys, ServerKeys};
