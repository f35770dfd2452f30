//! The syntax tree of a `.mlp` file: statements as written, with byte spans.
//!
//! The tree is generic (a keyword and its arguments) so that meaning, and every
//! error about meaning, belongs to [`crate::check`].

use crate::diag::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: String,
    pub name_span: Span,
    pub statements: Vec<Statement>,
    /// The span of the closing brace, for "missing statement" errors.
    pub end_span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub keyword: String,
    pub keyword_span: Span,
    pub args: Vec<Arg>,
    /// From the keyword through the `;`.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ArgKind {
    /// A bare value: `8`, `relu`, `2^-64`.
    Value(Value),
    /// `key=value`.
    Pair { key: String, key_span: Span, value: Value },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub kind: ArgKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A decimal number, kept as text so that range errors can quote it.
    Number(String),
    Word(String),
    /// `base^exp` as written.
    Power {
        base: String,
        exp: String,
    },
}

impl Value {
    pub fn describe(&self) -> String {
        match self {
            Value::Number(n) => format!("number `{n}`"),
            Value::Word(w) => format!("word `{w}`"),
            Value::Power { base, exp } => format!("power `{base}^{exp}`"),
        }
    }
}
