//! Errors of the passes: each names the op, what was wrong, and the `.mlp`
//! position it descends from, so the CLI can show the user's line.

use silc_ir::Loc;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PassError {
    /// The model cannot be lowered at this precision (a width or size limit).
    #[error("{message}")]
    Unsupported { loc: Loc, message: String, help: String },
    /// The range and noise checker found violations (and `--check=deny`).
    #[error("{} violation(s) of the range or noise bounds", .0.len())]
    Violations(Vec<crate::check::Violation>),
}

impl PassError {
    pub fn unsupported(loc: Loc, message: impl Into<String>, help: impl Into<String>) -> Self {
        PassError::Unsupported { loc, message: message.into(), help: help.into() }
    }
}
