//! Diagnostics: errors as values with spans, rendered for humans at the edge.
//!
//! A [`Diagnostic`] owns everything needed to print itself (file name, the
//! offending line, its position), so callers can render it after the source is
//! gone. The rendering is rustc-like and deterministic, which makes it a good
//! subject for snapshot tests:
//!
//! ```text
//! error[E0005]: unknown statement `dens`
//!  --> iris.mlp:3:5
//!   |
//! 3 |     dens 8 relu;
//!   |     ^^^^ not a statement
//!   |
//!   = help: valid statements are ...
//! ```

use std::fmt;

/// Source text with a display name and a line index for span → line:col.
pub struct SourceFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceFile<'a> {
    pub fn new(name: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { name, text, line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &'a str {
        let start = self.line_starts[line - 1];
        let end = self.line_starts.get(line).copied().unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// A diagnostic pointing at the byte range `span`.
    pub fn error(&self, kind: ErrorKind, span: Span, message: impl Into<String>) -> Diagnostic {
        let (line, col) = self.line_col(span.start);
        let text = self.line_text(line);
        // The caret covers the span's characters on its first line, at least one.
        let line_end = self.line_starts.get(line).map(|e| e - 1).unwrap_or(self.text.len());
        let end = span.end.clamp(span.start, line_end.max(span.start));
        let width = self.text[span.start.min(self.text.len())..end.min(self.text.len())].chars().count().max(1);
        Diagnostic {
            kind,
            message: message.into(),
            file: self.name.to_string(),
            line,
            col,
            line_text: Some(text.to_string()),
            width,
            label: String::new(),
            help: None,
        }
    }
}

/// A half-open byte range into the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

/// Every kind of front-end error, each with a stable code for documentation
/// and for tests that want one message per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("E0001")]
    Syntax,
    #[error("E0002")]
    EmptyFile,
    #[error("E0003")]
    NotUtf8,
    #[error("E0004")]
    UnterminatedModel,
    #[error("E0005")]
    UnknownStatement,
    #[error("E0006")]
    DuplicateStatement,
    #[error("E0007")]
    MissingStatement,
    #[error("E0008")]
    NoDenseLayer,
    #[error("E0009")]
    ActivationOnLastLayer,
    #[error("E0010")]
    TooFewClasses,
    #[error("E0011")]
    ZeroWidth,
    #[error("E0012")]
    BadArgument,
    #[error("E0013")]
    NumberOutOfRange,
    #[error("E0014")]
    UnknownActivation,
    #[error("E0015")]
    UnknownLoss,
    #[error("E0016")]
    UnknownOptimizer,
    #[error("E0017")]
    BadLearningRate,
    #[error("E0018")]
    BitsOutOfRange,
    #[error("E0019")]
    WidthOutOfRange,
    #[error("E0020")]
    MisplacedStatement,
    #[error("E0021")]
    UnknownKey,
    #[error("E0022")]
    BadFailureProbability,
    /// Raised after the front end: the model is well-formed but cannot be
    /// compiled as asked (a width too large for `bits`, a range/noise violation).
    #[error("E0023")]
    Unsupported,
    #[error("E0024")]
    UnknownScaling,
    #[error("E0025")]
    UnknownRounding,
}

impl ErrorKind {
    pub fn code(self) -> String {
        self.to_string()
    }
}

/// A located, self-contained error message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub kind: ErrorKind,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The offending line; `None` only when there is no line to show.
    pub line_text: Option<String>,
    /// How many characters the caret underlines.
    pub width: usize,
    /// A short note printed after the caret.
    pub label: String,
    /// What would have been valid.
    pub help: Option<String>,
}

/// Builder methods shared by `Diagnostic` and `Box<Diagnostic>` (errors travel
/// boxed so that `Result`s stay small).
pub trait Annotate: Sized {
    fn diag_mut(&mut self) -> &mut Diagnostic;

    /// A short note printed after the caret.
    fn with_label(mut self, label: impl Into<String>) -> Self {
        self.diag_mut().label = label.into();
        self
    }

    /// What would have been valid.
    fn with_help(mut self, help: impl Into<String>) -> Self {
        self.diag_mut().help = Some(help.into());
        self
    }
}

impl Annotate for Diagnostic {
    fn diag_mut(&mut self) -> &mut Diagnostic {
        self
    }
}

impl Annotate for Box<Diagnostic> {
    fn diag_mut(&mut self) -> &mut Diagnostic {
        self
    }
}

impl std::error::Error for Diagnostic {}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error[{}]: {}", self.kind.code(), self.message)?;
        let gutter = self.line.to_string().len();
        let pad = " ".repeat(gutter);
        writeln!(f, "{pad}--> {}:{}:{}", self.file, self.line, self.col)?;
        if let Some(text) = &self.line_text {
            // Tabs would misalign the caret; show them as single spaces.
            let shown: String = text.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
            writeln!(f, "{pad} |")?;
            writeln!(f, "{} | {}", self.line, shown)?;
            let caret = format!("{}{}", " ".repeat(self.col - 1), "^".repeat(self.width));
            if self.label.is_empty() {
                writeln!(f, "{pad} | {caret}")?;
            } else {
                writeln!(f, "{pad} | {caret} {}", self.label)?;
            }
        }
        if let Some(help) = &self.help {
            writeln!(f, "{pad} |")?;
            writeln!(f, "{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// The error for bytes that are not UTF-8: located at the first bad byte.
pub fn not_utf8(name: &str, bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    let good = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or("");
    let line = good.matches('\n').count() + 1;
    let line_start = good.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = good[line_start..].chars().count() + 1;
    let line_end = bytes[line_start..].iter().position(|&b| b == b'\n').map(|i| line_start + i).unwrap_or(bytes.len());
    let shown: String = String::from_utf8_lossy(&bytes[line_start..line_end.min(line_start + 200)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Diagnostic {
        kind: ErrorKind::NotUtf8,
        message: format!("the file is not UTF-8 text (bad byte 0x{:02x})", bytes[valid_up_to]),
        file: name.to_string(),
        line,
        col,
        line_text: Some(shown),
        width: 1,
        label: "invalid byte here".into(),
        help: Some("a .mlp file is plain UTF-8 text; is this the right file?".into()),
    }
}
