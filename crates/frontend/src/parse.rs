//! Runs the pest grammar (`grammar/mlp.pest`) and builds the [`crate::ast`].
//!
//! Pest's own error is translated into a [`Diagnostic`] whose "expected" list
//! uses words a user knows (`;`, a statement, a number) instead of rule names.

use pest::Parser;
use pest_derive::Parser;

use crate::ast::{Arg, ArgKind, Model, Statement, Value};
use crate::diag::{Annotate, Diagnostic, ErrorKind, SourceFile, Span};

#[derive(Parser)]
#[grammar = "../../../grammar/mlp.pest"]
struct MlpParser;

fn span_of(pair: &pest::iterators::Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// Parses the whole file into a [`Model`].
pub fn parse(source: &SourceFile<'_>) -> Result<Model, Box<Diagnostic>> {
    if source.text.trim().is_empty() || only_comments(source.text) {
        let d = source
            .error(ErrorKind::EmptyFile, Span::new(0, 0), "the file holds no model")
            .with_help("a model file starts with `model NAME {` followed by statements, e.g. `input 4;`");
        return Err(Box::new(d));
    }
    let mut pairs = MlpParser::parse(Rule::file, source.text).map_err(|e| Box::new(syntax_error(source, e)))?;
    let file = pairs.next().expect("the file rule always yields one pair");
    let model = file.into_inner().next().expect("a file holds one model");
    Ok(build_model(model))
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with("//")
    })
}

fn build_model(pair: pest::iterators::Pair<'_, Rule>) -> Model {
    let end = pair.as_span().end();
    let mut name = String::new();
    let mut name_span = Span::default();
    let mut statements = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::name => {
                name = p.as_str().to_string();
                name_span = span_of(&p);
            }
            Rule::statement => statements.push(build_statement(p)),
            _ => {}
        }
    }
    Model { name, name_span, statements, end_span: Span::new(end - 1, end) }
}

fn build_statement(pair: pest::iterators::Pair<'_, Rule>) -> Statement {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let kw = inner.next().expect("a statement starts with its keyword");
    let args = inner.map(build_arg).collect();
    Statement { keyword: kw.as_str().to_string(), keyword_span: span_of(&kw), args, span }
}

fn build_arg(pair: pest::iterators::Pair<'_, Rule>) -> Arg {
    let span = span_of(&pair);
    let inner = pair.into_inner().next().expect("an argument is a pair or a value");
    let kind = match inner.as_rule() {
        Rule::pair => {
            let mut kv = inner.into_inner();
            let key = kv.next().expect("pair key");
            let value = kv.next().expect("pair value");
            ArgKind::Pair { key: key.as_str().to_string(), key_span: span_of(&key), value: build_value(value) }
        }
        _ => ArgKind::Value(build_value(inner)),
    };
    Arg { kind, span }
}

fn build_value(pair: pest::iterators::Pair<'_, Rule>) -> Value {
    let v = pair.into_inner().next().expect("a value has one alternative");
    match v.as_rule() {
        Rule::number => Value::Number(v.as_str().to_string()),
        Rule::power => {
            let (base, exp) = v.as_str().split_once('^').expect("a power holds `^`");
            Value::Power { base: base.to_string(), exp: exp.to_string() }
        }
        _ => Value::Word(v.as_str().to_string()),
    }
}

/// A human name for what a grammar rule stands for.
fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::model | Rule::model_kw => "`model`",
        Rule::name => "a model name",
        Rule::statement | Rule::keyword => "a statement",
        Rule::arg | Rule::value | Rule::pair => "an argument",
        Rule::key => "a key",
        Rule::word => "a word",
        Rule::number => "a number",
        Rule::power => "a power such as `2^-64`",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

fn syntax_error(source: &SourceFile<'_>, err: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<&str> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.iter().filter_map(describe).collect(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    // Literal tokens (`{`, `}`, `;`, `=`) are not rules; infer them from context.
    let before = source.text[..pos].trim_end();
    let last = before.chars().last();
    if expected.contains(&"an argument") && !expected.contains(&"`;`") {
        expected.push("`;`");
    }
    if expected.contains(&"a statement") {
        expected.push("`}`");
    }
    if expected.is_empty() {
        match last {
            Some(_) if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') && !before.contains('{') => {
                expected.push("`{`")
            }
            _ => expected.push("`=` followed by a value"),
        }
    }
    expected.dedup();
    let at_end = source.text[pos..].trim().is_empty();
    let (kind, message, span) = if at_end && before.contains('{') && !before.ends_with('}') {
        let (line, _) = source.line_col(pos);
        let _ = line;
        (
            ErrorKind::UnterminatedModel,
            "the model block is not closed: the file ends before its `}`".to_string(),
            Span::new(pos, pos),
        )
    } else {
        let found: String = source.text[pos..].chars().take_while(|c| !c.is_whitespace()).take(20).collect();
        let found = if found.is_empty() { "end of file".to_string() } else { format!("`{found}`") };
        let width =
            source.text[pos..].chars().take_while(|c| !c.is_whitespace()).map(char::len_utf8).sum::<usize>().max(1);
        (ErrorKind::Syntax, format!("unexpected {found}"), Span::new(pos, pos + width))
    };
    let help = format!("expected {}", join_or(&expected));
    source.error(kind, span, message).with_label("here").with_help(help)
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}
