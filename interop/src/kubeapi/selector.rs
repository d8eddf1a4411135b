//! `labelSelector` and `fieldSelector` as the API server reads them from a query string.
//! Written from the API's documented grammar (apimachinery's `labels.Parse`), on purpose
//! independent of the daemon's own parser: the fake is the test oracle.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Label {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Label>);

/// Splits at commas outside parentheses.
fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced ')' in {text:?}"));
                }
            }
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in {text:?}"));
    }
    terms.push(&text[start..]);
    Ok(terms)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253 + 1 + 63
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && k.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63 && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected (values) in {rest:?}"))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| !valid_value(v)) {
        return Err(format!("invalid value in set {rest:?}"));
    }
    Ok(values)
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        if text.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for term in split_terms(text)? {
            let t = term.trim();
            let req = if let Some(k) = t.strip_prefix('!') {
                Label::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = t.split_once("!=") {
                Label::Ne(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Label::Eq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, rest)) = t.split_once(" notin ") {
                Label::NotIn(k.trim().to_string(), parse_set(rest)?)
            } else if let Some((k, rest)) = t.split_once(" in ") {
                Label::In(k.trim().to_string(), parse_set(rest)?)
            } else {
                Label::Exists(t.to_string())
            };
            let (key, value) = match &req {
                Label::Eq(k, v) | Label::Ne(k, v) => (k, Some(v)),
                Label::In(k, _) | Label::NotIn(k, _) | Label::Exists(k) | Label::NotExists(k) => (k, None),
            };
            if !valid_key(key) {
                return Err(format!("invalid label key {key:?} in {text:?}"));
            }
            if value.is_some_and(|v| !valid_value(v)) {
                return Err(format!("invalid label value in {t:?}"));
            }
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether an object (its `metadata.labels`) matches.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Label::Eq(k, v) => get(k) == Some(v.as_str()),
            Label::Ne(k, v) => get(k) != Some(v.as_str()),
            Label::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Label::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Label::Exists(k) => get(k).is_some(),
            Label::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector (`metadata.name=x,metadata.namespace!=y`); empty matches
/// everything. Fields are dotted paths into the object (the real server allows only a
/// few per kind: `metadata.name` and `metadata.namespace` everywhere).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        if text.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for term in text.split(',') {
            let t = term.trim();
            let (field, eq, value) = if let Some((f, v)) = t.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid field selector term {t:?}"));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace" | "spec.type" | "spec.clusterIP") {
                return Err(format!("field label not supported: {field}"));
            }
            reqs.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, eq, value)| {
            let mut v = object;
            for part in field.split('.') {
                v = &v[part];
            }
            let got = v.as_str().unwrap_or("");
            (got == value) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "labels": labels}})
    }

    #[test]
    fn label_selector_grammar() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (web, db)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("app in (web,db),!missing,tier", true),
        ] {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&o), want, "{sel}");
        }
        assert!(!LabelSelector::parse("app").unwrap().matches(&json!({"metadata": {"name": "x"}})));
    }

    #[test]
    fn bad_label_selectors_are_refused() {
        for sel in ["app in (web", "app=we b", "=x", "app in web"] {
            assert!(LabelSelector::parse(sel).is_err(), "{sel}");
        }
    }

    #[test]
    fn field_selector() {
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=web").unwrap().matches(&o));
        assert!(!FieldSelector::parse("metadata.name=db").unwrap().matches(&o));
        assert!(FieldSelector::parse("metadata.name!=db,metadata.namespace==default").unwrap().matches(&o));
        assert!(FieldSelector::parse("status.phase=Running").is_err());
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
