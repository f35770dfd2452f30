//! The silc front end: it reads `.mlp` text and produces a checked [`ModelSpec`].
//!
//! Three steps, each in its own module: [`parse`] runs the pest grammar in
//! `grammar/mlp.pest` and builds the [`ast`] with byte spans; [`check`] turns
//! the AST into a [`ModelSpec`], rejecting anything that does not describe a
//! trainable model; [`diag`] renders any failure as a `file:line:col` message
//! with the offending line and a caret. Architecture invariant: this is the only
//! crate that knows pest; it never touches the file system (the caller passes the
//! source text and a display name).

pub mod ast;
pub mod check;
pub mod diag;
pub mod parse;
pub mod spec;

pub use diag::{Annotate, Diagnostic, ErrorKind, SourceFile};
pub use spec::{Layer, ModelSpec, Rounding, Scaling, Widths};

/// Parses and checks `.mlp` source bytes. `name` is only used in messages.
///
/// Bytes rather than `&str`: a file that is not UTF-8 must get a located
/// error, not a panic or a lossy read.
pub fn compile_source(name: &str, bytes: &[u8]) -> Result<ModelSpec, Box<Diagnostic>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => return Err(Box::new(diag::not_utf8(name, bytes, err.valid_up_to()))),
    };
    let source = SourceFile::new(name, text);
    let model = parse::parse(&source)?;
    check::check(&source, &model)
}
