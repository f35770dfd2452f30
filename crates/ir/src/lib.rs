//! silc's intermediate representation: one tensor-level circuit graph used from
//! the high level (matmul, relu, cross-entropy gradient, SGD update) down to the
//! low level (≤ p-bit leveled integer ops and table lookups).
//!
//! A [`Graph`] is a petgraph DAG whose nodes are whole tensor ops; values are
//! named by typed [`ValueId`]s (`%12`) and lookup tables are interned in a
//! [`TableArena`] (`t3`), so equal tables share one id. Every value carries a
//! [`Type`]: shape, encrypted or clear, and its element range `[lo, hi]` (from
//! which the bit width follows). Facts computed by analyses live in
//! [`SideTable`]s keyed by value id, never on the nodes. The text form
//! ([`text`]) is deterministic and parses back ([`read`]) so that pass tests can
//! start from IR text. Architecture invariant: this crate knows nothing of the
//! `.mlp` language, of files, or of tfhe-rs.

pub mod graph;
pub mod infer;
pub mod op;
pub mod quant;
pub mod read;
pub mod semantics;
pub mod side;
pub mod table;
pub mod text;
pub mod types;
pub mod verify;

pub use graph::{Graph, Node, Rewriter, Stage, ValueId};
pub use op::{Op, Role};
pub use quant::Quant;
pub use side::SideTable;
pub use table::{Table, TableArena, TableId};
pub use types::{Loc, Type, Vis};
