//! Errors: [`ConfigError`] with its `FILE:LINE:COLUMN: KEY: message` text, the
//! positions of spans, serde's errors reworded with the key path they belong to, and
//! the "did you mean" hints.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use std::path::PathBuf;

use super::raw::Opt;

/// Why a configuration was refused. `Display` is one line, starting with
/// `FILE:LINE:COLUMN:` for everything but a file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// [`load`] could not read the file.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{file}:{line}:{column}: invalid TOML: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    /// TOML, but not a valid configuration. `key` is the path of the key at fault,
    /// like `global.router_id`, `neighbor[2].address` or `global.listen[1]`; `line`
    /// and `column` (from 1, in characters) point at its value, or at the key itself
    /// when the key is unknown, or at the table header when a required key is missing.
    #[error("{file}:{line}:{column}: {key}: {kind}")]
    Invalid { file: String, line: usize, column: usize, key: String, kind: ErrorKind },
}

impl ConfigError {
    /// `(line, column)`, both from 1; `None` for [`ConfigError::Read`].
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { line, column, .. } | ConfigError::Invalid { line, column, .. } => {
                Some((*line, *column))
            }
        }
    }

    /// The key path at fault, for [`ConfigError::Invalid`].
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// What is wrong, for [`ConfigError::Invalid`].
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            ConfigError::Invalid { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// What is wrong with a key of a [`ConfigError::Invalid`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A key the table does not have. `suggestion`: an allowed key within a small
    /// edit distance; `allowed`: every key the table has.
    #[error("unknown key{}", unknown_key_hint(.suggestion, .allowed))]
    UnknownKey { suggestion: Option<String>, allowed: Vec<String> },
    /// A required key is absent.
    #[error("missing required key")]
    Missing,
    /// The value has the wrong TOML type (the text says which was expected).
    #[error("wrong type: {0}")]
    Type(String),
    /// The value has the right type but is not acceptable (out of range, not an
    /// address, unknown name...).
    #[error("{0}")]
    Value(String),
    /// The value contradicts another part of the file (duplicate neighbor,
    /// overlapping ranges...).
    #[error("{0}")]
    Conflict(String),
}

fn unknown_key_hint(suggestion: &Option<String>, allowed: &[String]) -> String {
    match suggestion {
        Some(s) => format!("; did you mean {s:?}?"),
        None if allowed.is_empty() => String::new(),
        None => format!("; expected one of: {}", allowed.join(", ")),
    }
}

/// The file being checked: turns spans into positioned errors.
pub(crate) struct Cx<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

pub(crate) type Res<T> = Result<T, ConfigError>;

impl Cx<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
    }

    pub(crate) fn err_at(&self, offset: usize, key: impl Into<String>, kind: ErrorKind) -> ConfigError {
        let (line, column) = self.position(offset);
        ConfigError::Invalid { file: self.file.to_string(), line, column, key: key.into(), kind }
    }

    pub(crate) fn err<T>(&self, value: &Spanned<T>, key: impl Into<String>, kind: ErrorKind) -> ConfigError {
        self.err_at(value.span().start, key, kind)
    }

    pub(crate) fn value_err<T>(
        &self,
        value: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        self.err(value, key, ErrorKind::Value(message.into()))
    }

    pub(crate) fn line_of<T>(&self, value: &Spanned<T>) -> usize {
        self.position(value.span().start).0
    }

    pub(crate) fn required<'v, T, U>(&self, table: &Spanned<U>, value: &'v Opt<T>, key: String) -> Res<&'v Spanned<T>> {
        value.as_ref().ok_or_else(|| self.err(table, key, ErrorKind::Missing))
    }

    // Errors found while deserializing (unknown keys, wrong types): serde knows the
    // span, the document tree knows which key it belongs to.

    pub(crate) fn serde_error(&self, doc: &DeTable<'_>, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let (mut path, found) = locate(doc, &span).unwrap_or_default();
        let message = e.message().trim();
        let kind = if let Some(rest) = message.strip_prefix("unknown field `") {
            let (unknown, allowed) = rest.split_once('`').unwrap_or((rest, ""));
            let allowed: Vec<String> = allowed.split('`').skip(1).step_by(2).map(str::to_string).collect();
            if !path.ends_with(&push_key("", unknown)) {
                path = push_key(&path, unknown);
            }
            ErrorKind::UnknownKey { suggestion: did_you_mean(unknown, &allowed), allowed }
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            path = push_key(&path, rest.trim_end_matches('`'));
            ErrorKind::Missing
        } else if let Some(rest) = message.strip_prefix("invalid type: ") {
            type_message(rest, found)
        } else {
            ErrorKind::Value(message.to_string())
        };
        if path.is_empty() {
            path.push_str("(document)");
        }
        self.err_at(span.start, path, kind)
    }
}

/// Rewords serde's "invalid type: FOUND, expected WANTED" in TOML's words;
/// `value_type` is the TOML type of the value at the error's span, if known.
fn type_message(rest: &str, value_type: Option<&str>) -> ErrorKind {
    let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, "another type"));
    if found.contains(" as i128") || found.contains(" as u64") {
        return ErrorKind::Value("integer out of range".to_string());
    }
    // serde sees a TOML date-time as a map; say what it is.
    let found = if value_type == Some("datetime") { "a date-time" } else { found };
    let toml_name = |s: &str| -> String {
        match s {
            "i64" | "u64" | "i32" | "u32" | "u16" | "u8" => "an integer".to_string(),
            "a sequence" => "an array".to_string(),
            "map" => "a table".to_string(),
            "sequence" => "an array".to_string(),
            "unit value" => "nothing".to_string(),
            s if s.starts_with("struct ") || s == "a map" => "a table".to_string(),
            s => s.replace('`', "").replace("floating point", "float"),
        }
    };
    ErrorKind::Type(format!("expected {}, found {}", toml_name(expected), toml_name(found)))
}

/// Appends `key` to a key path, quoting keys that are not bare TOML keys.
fn push_key(path: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare { key.to_string() } else { format!("{key:?}") };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// The key path of the smallest key or value of `doc` whose span holds `span` (an
/// unknown key's error spans the key, a type error the value), with the TOML type
/// of the value when that is what was found.
fn locate(doc: &DeTable<'_>, span: &Range<usize>) -> Option<(String, Option<&'static str>)> {
    let mut best = None;
    walk_table(doc, "", span, &mut best);
    best.map(|b: Found| (b.path, b.value_type))
}

/// The best node so far: its span's length, key path, and TOML type if a value.
struct Found {
    len: usize,
    path: String,
    value_type: Option<&'static str>,
}

fn consider(
    node: Range<usize>,
    path: &str,
    value_type: Option<&'static str>,
    target: &Range<usize>,
    best: &mut Option<Found>,
) {
    if node.start <= target.start && target.end <= node.end {
        let len = node.end - node.start;
        // `<=`: on a tie the later (deeper) node wins.
        if best.as_ref().is_none_or(|b| len <= b.len) {
            *best = Some(Found { len, path: path.to_string(), value_type });
        }
    }
}

fn walk_table(table: &DeTable<'_>, path: &str, target: &Range<usize>, best: &mut Option<Found>) {
    for (key, value) in table.iter() {
        let path = push_key(path, key.get_ref());
        consider(key.span(), &path, None, target, best);
        walk_value(value, &path, target, best);
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, path: &str, target: &Range<usize>, best: &mut Option<Found>) {
    consider(value.span(), path, Some(value.get_ref().type_str()), target, best);
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, path, target, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), target, best);
            }
        }
        _ => {}
    }
}

/// The allowed key closest to `unknown`, if it is close: at most 2 edits (1 for keys
/// of up to 4 characters), ignoring case and `-` for `_`.
pub(crate) fn did_you_mean(unknown: &str, allowed: &[String]) -> Option<String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let unknown = norm(unknown);
    let limit = if unknown.chars().count() <= 4 { 1 } else { 2 };
    allowed
        .iter()
        .map(|a| (levenshtein(&unknown, &norm(a)), a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.clone())
}

/// Edit distance (insertions, deletions, substitutions) in characters.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
