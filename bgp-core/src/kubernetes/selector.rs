//! Kubernetes label selectors in their text form, as `kubectl -l` and the API's
//! `labelSelector` parameter take them: requirements separated by commas, all of
//! which must hold.
//!
//! - `key=value`, `key==value`: the label is present with that value;
//! - `key!=value`: the label is absent or has another value;
//! - `key in (a, b)`: present with one of the values;
//! - `key notin (a, b)`: absent or with none of the values;
//! - `key`: present (any value); `!key`: absent;
//! - `key>N`, `key<N`: present, and its value an integer greater (less) than `N`.
//!
//! Keys are qualified names (`[prefix/]name`: the prefix a DNS subdomain of at most
//! 253 characters, the name 1..=63 alphanumerics, `-`, `_`, `.`, starting and ending
//! alphanumeric); values are empty or 1..=63 such characters. Whitespace between
//! tokens is allowed. The empty selector selects everything.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed label selector: every requirement must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// One requirement of a [`Selector`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Operator,
}

/// What a [`Requirement`] asks of its key's label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `=` or `==`.
    Equals(String),
    /// `!=`.
    NotEquals(String),
    /// `in (...)`, not empty.
    In(Vec<String>),
    /// `notin (...)`, not empty.
    NotIn(Vec<String>),
    /// The bare key.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `>N`.
    GreaterThan(i64),
    /// `<N`.
    LessThan(i64),
}

/// Why a selector text is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError(pub String);

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SelectorError {}

/// Labels as a map from key to value (the API's `metadata.labels`).
pub trait Labels {
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Labels for std::collections::HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for [(&str, &str)] {
    fn label(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl Selector {
    /// Parses and validates `text`.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let tokens = lex(text)?;
        let mut p = Parser { tokens, at: 0 };
        let mut requirements = Vec::new();
        if p.peek() == &Token::End {
            return Ok(Selector { requirements });
        }
        loop {
            requirements.push(p.requirement()?);
            match p.next() {
                Token::End => break,
                Token::Comma => {}
                t => return Err(SelectorError(format!("expected ',' or the end after a requirement, found {t}"))),
            }
        }
        Ok(Selector { requirements })
    }

    /// Selects everything (the empty selector).
    pub fn everything() -> Selector {
        Selector { requirements: Vec::new() }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Selector, SelectorError> {
        Selector::parse(s)
    }
}

impl Requirement {
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.label(&self.key);
        match (&self.op, value) {
            (Operator::Equals(v), Some(x)) => v == x,
            (Operator::Equals(_), None) => false,
            (Operator::NotEquals(v), x) => x != Some(v.as_str()),
            (Operator::In(vs), Some(x)) => vs.iter().any(|v| v == x),
            (Operator::In(_), None) => false,
            (Operator::NotIn(vs), x) => x.is_none_or(|x| !vs.iter().any(|v| v == x)),
            (Operator::Exists, x) => x.is_some(),
            (Operator::DoesNotExist, x) => x.is_none(),
            (Operator::GreaterThan(n), x) => x.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x > *n),
            (Operator::LessThan(n), x) => x.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x < *n),
        }
    }
}

impl fmt::Display for Selector {
    /// The canonical text: requirements joined by `,`, no spaces but after `in`/`notin`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let k = &r.key;
            match &r.op {
                Operator::Equals(v) => write!(f, "{k}={v}")?,
                Operator::NotEquals(v) => write!(f, "{k}!={v}")?,
                Operator::In(vs) => write!(f, "{k} in ({})", vs.join(","))?,
                Operator::NotIn(vs) => write!(f, "{k} notin ({})", vs.join(","))?,
                Operator::Exists => write!(f, "{k}")?,
                Operator::DoesNotExist => write!(f, "!{k}")?,
                Operator::GreaterThan(n) => write!(f, "{k}>{n}")?,
                Operator::LessThan(n) => write!(f, "{k}<{n}")?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Comma,
    Bang,
    /// `=` or `==`.
    Eq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "{w:?}"),
            Token::Comma => f.write_str("','"),
            Token::Bang => f.write_str("'!'"),
            Token::Eq => f.write_str("'='"),
            Token::NotEq => f.write_str("'!='"),
            Token::Gt => f.write_str("'>'"),
            Token::Lt => f.write_str("'<'"),
            Token::Open => f.write_str("'('"),
            Token::Close => f.write_str("')'"),
            Token::End => f.write_str("the end"),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, SelectorError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' | '(' | ')' | '>' | '<' => {
                chars.next();
                out.push(match c {
                    ',' => Token::Comma,
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '>' => Token::Gt,
                    _ => Token::Lt,
                });
            }
            '=' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                }
                out.push(Token::Eq);
            }
            '!' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    out.push(Token::NotEq);
                } else {
                    out.push(Token::Bang);
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '>' | '<' | '=' | '!') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    out.push(Token::End);
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.at].clone();
        if t != Token::End {
            self.at += 1;
        }
        t
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if self.peek() == &Token::Bang {
            self.next();
            let key = self.key()?;
            return Ok(Requirement { key, op: Operator::DoesNotExist });
        }
        let key = self.key()?;
        let op = match self.peek().clone() {
            Token::End | Token::Comma => Operator::Exists,
            Token::Eq => {
                self.next();
                Operator::Equals(self.value()?)
            }
            Token::NotEq => {
                self.next();
                Operator::NotEquals(self.value()?)
            }
            Token::Gt | Token::Lt => {
                let gt = self.next() == Token::Gt;
                let n = match self.next() {
                    Token::Word(w) => w
                        .parse::<i64>()
                        .map_err(|_| SelectorError(format!("{w:?} after '>' or '<' is not an integer")))?,
                    t => return Err(SelectorError(format!("expected an integer after '>' or '<', found {t}"))),
                };
                if gt {
                    Operator::GreaterThan(n)
                } else {
                    Operator::LessThan(n)
                }
            }
            Token::Word(w) if w == "in" || w == "notin" => {
                self.next();
                let values = self.set(&w)?;
                if w == "in" {
                    Operator::In(values)
                } else {
                    Operator::NotIn(values)
                }
            }
            t => {
                return Err(SelectorError(format!(
                    "expected '=', '==', '!=', 'in', 'notin', '>', '<', ',' or the end after {key:?}, found {t}"
                )))
            }
        };
        Ok(Requirement { key, op })
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        match self.next() {
            Token::Word(w) => {
                check_key(&w)?;
                Ok(w)
            }
            t => Err(SelectorError(format!("expected a label key, found {t}"))),
        }
    }

    /// The value after `=`, `==` or `!=`: a word, or nothing (the empty value).
    fn value(&mut self) -> Result<String, SelectorError> {
        match self.peek().clone() {
            Token::End | Token::Comma => Ok(String::new()),
            Token::Word(w) => {
                self.next();
                check_value(&w)?;
                Ok(w)
            }
            t => Err(SelectorError(format!("expected a label value, found {t}"))),
        }
    }

    /// `( v, v, ... )` after `in` / `notin`: at least one value.
    fn set(&mut self, op: &str) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Token::Open => {}
            t => return Err(SelectorError(format!("expected '(' after '{op}', found {t}"))),
        }
        let mut values: Vec<String> = Vec::new();
        loop {
            // A value may be empty: `(a,,b)` and `(a,)` hold the empty value.
            let v = match self.peek().clone() {
                Token::Word(w) => {
                    self.next();
                    check_value(&w)?;
                    w
                }
                Token::Comma | Token::Close => String::new(),
                t => return Err(SelectorError(format!("expected a value, ',' or ')' in '{op} (...)', found {t}"))),
            };
            let close = match self.next() {
                Token::Comma => false,
                Token::Close => true,
                t => return Err(SelectorError(format!("expected ',' or ')' in '{op} (...)', found {t}"))),
            };
            if close && values.is_empty() && v.is_empty() {
                return Err(SelectorError(format!("the values of '{op}' cannot be empty")));
            }
            if !values.contains(&v) {
                values.push(v);
            }
            if close {
                return Ok(values);
            }
        }
    }
}

/// A name part: 1..=63 alphanumerics, `-`, `_`, `.`, alphanumeric at both ends.
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A DNS subdomain (RFC 1123): at most 253 characters, dot-separated labels of
/// lowercase alphanumerics and `-`, alphanumeric at both ends.
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

fn check_key(key: &str) -> Result<(), SelectorError> {
    let ok = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_name(name),
        None => is_name(key),
    };
    if ok {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "{key:?} is not a valid label key ([prefix/]name: the name 1..=63 letters, digits, '-', '_', '.', \
             starting and ending with a letter or digit; the prefix a DNS subdomain)"
        )))
    }
}

fn check_value(value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "{value:?} is not a valid label value (0..=63 letters, digits, '-', '_', '.', starting and ending \
             with a letter or digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> String {
        Selector::parse(s).expect_err(s).0
    }

    fn req(key: &str, op: Operator) -> Requirement {
        Requirement { key: key.into(), op }
    }

    #[test]
    fn parses_every_operator() {
        let s = sel("a=1, b==2,c!=3 ,d in (x, y),e notin(z),f,!g,h>5,i<-2,example.com/j=k");
        assert_eq!(
            s.requirements(),
            &[
                req("a", Operator::Equals("1".into())),
                req("b", Operator::Equals("2".into())),
                req("c", Operator::NotEquals("3".into())),
                req("d", Operator::In(vec!["x".into(), "y".into()])),
                req("e", Operator::NotIn(vec!["z".into()])),
                req("f", Operator::Exists),
                req("g", Operator::DoesNotExist),
                req("h", Operator::GreaterThan(5)),
                req("i", Operator::LessThan(-2)),
                req("example.com/j", Operator::Equals("k".into())),
            ]
        );
        assert_eq!(s.to_string(), "a=1,b=2,c!=3,d in (x,y),e notin (z),f,!g,h>5,i<-2,example.com/j=k");
        assert_eq!(sel(&s.to_string()), s, "the canonical text parses back");
        assert_eq!(sel("a="), Selector { requirements: vec![req("a", Operator::Equals(String::new()))] });
        assert_eq!(sel("a in (x,)").requirements()[0].op, Operator::In(vec!["x".into(), String::new()]));
        assert_eq!(sel(""), Selector::everything());
        assert_eq!(sel("   "), Selector::everything());
        assert_eq!(sel("in in (in)").requirements()[0], req("in", Operator::In(vec!["in".into()])));
    }

    #[test]
    fn refuses_bad_syntax() {
        assert_eq!(err("a in ()"), "the values of 'in' cannot be empty");
        assert!(err("a in x").starts_with("expected '(' after 'in'"), "{}", err("a in x"));
        assert!(err("a in (x").contains("found the end"), "{}", err("a in (x"));
        assert!(err("a=b=c").starts_with("expected ',' or the end"), "{}", err("a=b=c"));
        assert!(err("a b").starts_with("expected '=', '==', '!='"), "{}", err("a b"));
        assert!(err(",a").starts_with("expected a label key, found ','"));
        assert!(err("a,").starts_with("expected a label key, found the end"));
        assert!(err("a>x").contains("is not an integer"));
        assert!(err("a>").contains("expected an integer"));
        assert!(err("!").starts_with("expected a label key"));
        assert!(err("-a=1").contains("not a valid label key"));
        assert!(err("a-=1").contains("not a valid label key"));
        assert!(err(&format!("{}=1", "k".repeat(64))).contains("not a valid label key"));
        assert!(err("Example.com/a=1").contains("not a valid label key"), "prefixes are lowercase");
        assert!(err("/a=1").contains("not a valid label key"));
        assert!(err("a/b/c=1").contains("not a valid label key"));
        assert!(err("a=-x").contains("not a valid label value"));
        assert!(err(&format!("a={}", "v".repeat(64))).contains("not a valid label value"));
        assert!(err("a in (x,-y)").contains("not a valid label value"));
        assert!(err("a=(x)").starts_with("expected a label value, found '('"));
        // The longest of each part is fine.
        let longest = format!("{}.io/{}={}", "p".repeat(60), "k".repeat(63), "v".repeat(63));
        assert_eq!(sel(&longest).to_string(), longest);
    }

    #[test]
    fn matches_labels() {
        let labels: BTreeMap<String, String> =
            [("app", "web"), ("tier", "front"), ("n", "7"), ("empty", "")].map(|(k, v)| (k.into(), v.into())).into();
        let yes = |s: &str| assert!(sel(s).matches(&labels), "{s} should match");
        let no = |s: &str| assert!(!sel(s).matches(&labels), "{s} should not match");
        yes("");
        yes("app=web");
        yes("app==web,tier=front");
        no("app=db");
        no("missing=x");
        yes("app!=db");
        yes("missing!=x");
        no("app!=web");
        yes("app in (db, web)");
        no("missing in (web)");
        no("app in (db)");
        yes("app notin (db)");
        yes("missing notin (db)");
        no("app notin (web,db)");
        yes("app");
        no("missing");
        yes("!missing");
        no("!app");
        yes("n>6");
        no("n>7");
        yes("n<8");
        no("app>1");
        no("missing<1");
        yes("empty=");
        yes("empty");
        no("app=web,missing");
        let pairs: &[(&str, &str)] = &[("app", "web")];
        assert!(sel("app=web").matches(pairs));
    }
}
