//! Compose's variable interpolation over string values: `$VAR`, `${VAR}`, the `-`, `?` and `+`
//! modifiers with and without `:`, and `$$` for a literal `$`.
//!
//! Besides the text, expansion reports where each variable's value landed in the output, so a
//! published port can name the variable that moves it (`${GRAFANA_PORT:-3000}`).
use std::collections::BTreeMap;
use std::ops::Range;

use serde_norway::Value;

/// Where variables come from: the process environment, then `.env` (see `mod.rs`).
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InterpolateError {
    /// Text compose refuses to interpolate; the string says what and where.
    Syntax(String),
    /// `${VAR:?message}` / `${VAR?message}` with the variable missing.
    Required { name: String, message: String },
}

/// One top-level variable reference and the bytes of the output its expansion produced (its
/// value, default or alternative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VarSpan {
    pub name: String,
    pub range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    pub text: String,
    pub vars: Vec<VarSpan>,
}

/// Variable spans of every interpolated string that held a variable, by YAML path
/// (`services.grafana.ports[0]`).
pub(crate) type Provenance = BTreeMap<String, Vec<VarSpan>>;

fn is_name_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn name_len(s: &str) -> usize {
    s.bytes()
        .take_while(|b| *b == b'_' || b.is_ascii_alphanumeric())
        .count()
}

/// Index of the `}` that closes a `${` whose body starts at `from`, skipping nested `${...}`
/// and `$$`.
fn closing_brace(s: &str, from: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 1;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if matches!(bytes.get(i + 1), Some(b'$')) => i += 2,
            b'$' if matches!(bytes.get(i + 1), Some(b'{')) => {
                depth += 1;
                i += 2;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Expands every variable reference in `input`.
pub(crate) fn expand(input: &str, lookup: Lookup<'_>) -> Result<Expanded, InterpolateError> {
    let bytes = input.as_bytes();
    let mut text = String::with_capacity(input.len());
    let mut vars = Vec::new();
    let mut literal_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        text.push_str(&input[literal_from..i]);
        let start = text.len();
        match bytes.get(i + 1) {
            Some(b'$') => {
                text.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = closing_brace(input, i + 2).ok_or_else(|| {
                    InterpolateError::Syntax(format!(
                        "\"{}\" has no closing brace in \"{input}\"",
                        &input[i..]
                    ))
                })?;
                let name = braced(&input[i + 2..end], lookup, &mut text)?;
                vars.push(VarSpan {
                    name,
                    range: start..text.len(),
                });
                i = end + 1;
            }
            Some(&b) if is_name_start(b) => {
                let len = name_len(&input[i + 1..]);
                let name = &input[i + 1..i + 1 + len];
                text.push_str(&lookup(name).unwrap_or_default());
                vars.push(VarSpan {
                    name: name.to_string(),
                    range: start..text.len(),
                });
                i += 1 + len;
            }
            _ => {
                return Err(InterpolateError::Syntax(format!(
                    "\"{input}\" has a $ that starts no variable"
                )));
            }
        }
        literal_from = i;
    }
    text.push_str(&input[literal_from..]);
    Ok(Expanded { text, vars })
}

/// Expands the body of `${...}` (without the braces) onto `out`; returns the variable's name.
fn braced(body: &str, lookup: Lookup<'_>, out: &mut String) -> Result<String, InterpolateError> {
    let len = name_len(body);
    let name = &body[..len];
    if name.is_empty() || !is_name_start(name.as_bytes()[0]) {
        let shown = body.split([':', '-', '?', '+']).next().unwrap_or(body);
        return Err(InterpolateError::Syntax(format!(
            "\"${{{body}}}\": \"{shown}\" is not a variable name"
        )));
    }
    let rest = &body[len..];
    let value = lookup(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let word = |skip: usize| -> Result<String, InterpolateError> {
        Ok(expand(&rest[skip..], lookup)?.text)
    };
    let required = |skip: usize, missing: &str| -> InterpolateError {
        let message = match word(skip) {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => missing.to_string(),
            Err(e) => return e,
        };
        InterpolateError::Required {
            name: name.to_string(),
            message,
        }
    };
    let expanded = if rest.is_empty() {
        value.unwrap_or_default()
    } else if rest.starts_with(":-") {
        if non_empty {
            value.unwrap_or_default()
        } else {
            word(2)?
        }
    } else if rest.starts_with('-') {
        if set {
            value.unwrap_or_default()
        } else {
            word(1)?
        }
    } else if rest.starts_with(":?") {
        if non_empty {
            value.unwrap_or_default()
        } else {
            return Err(required(2, "it is unset or empty"));
        }
    } else if rest.starts_with('?') {
        if set {
            value.unwrap_or_default()
        } else {
            return Err(required(1, "it is unset"));
        }
    } else if rest.starts_with(":+") {
        if non_empty { word(2)? } else { String::new() }
    } else if rest.starts_with('+') {
        if set { word(1)? } else { String::new() }
    } else {
        return Err(InterpolateError::Syntax(format!(
            "\"${{{body}}}\": \"{rest}\" is not one of :-, -, :?, ?, :+, +"
        )));
    };
    out.push_str(&expanded);
    Ok(name.to_string())
}

/// Interpolates every string scalar under `value` (values only: mapping keys stay as written),
/// recording variable spans in `provenance`. On error, returns the YAML path of the value.
pub(crate) fn interpolate_value(
    value: &mut Value,
    path: &str,
    lookup: Lookup<'_>,
    provenance: &mut Provenance,
) -> Result<(), (String, InterpolateError)> {
    match value {
        Value::String(s) => {
            if s.contains('$') {
                let expanded = expand(s, lookup).map_err(|e| (path.to_string(), e))?;
                if !expanded.vars.is_empty() {
                    provenance.insert(path.to_string(), expanded.vars);
                }
                *s = expanded.text;
            }
            Ok(())
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), lookup, provenance)?;
            }
            Ok(())
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key_text(key);
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                interpolate_value(item, &child, lookup, provenance)?;
            }
            Ok(())
        }
        Value::Tagged(tagged) => interpolate_value(&mut tagged.value, path, lookup, provenance),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// A mapping key as text, for paths and messages.
pub(crate) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "~".to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("8080".into()),
            "INNER" => Some("inner".into()),
            _ => None,
        }
    }

    fn ok(input: &str) -> String {
        expand(input, &env).unwrap().text
    }

    fn err(input: &str) -> InterpolateError {
        expand(input, &env).unwrap_err()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(ok("a $SET b"), "a value b");
        assert_eq!(ok("${SET}x"), "valuex");
        assert_eq!(ok("$SET.x"), "value.x");
        assert_eq!(ok("no variables"), "no variables");
    }

    #[test]
    fn unset_without_default_is_empty() {
        assert_eq!(ok("[$UNSET][${UNSET}]"), "[][]");
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(ok("$$SET costs $$5"), "$SET costs $5");
    }

    #[test]
    fn colon_dash_default_applies_when_unset_or_empty() {
        assert_eq!(ok("${UNSET:-d}"), "d");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${SET:-d}"), "value");
        assert_eq!(ok("${UNSET:-}"), "");
    }

    #[test]
    fn dash_default_applies_only_when_unset() {
        assert_eq!(ok("${UNSET-d}"), "d");
        assert_eq!(ok("${EMPTY-d}"), "");
        assert_eq!(ok("${SET-d}"), "value");
    }

    #[test]
    fn defaults_keep_colons_and_may_nest() {
        assert_eq!(ok("${UNSET:-127.0.0.1:80}"), "127.0.0.1:80");
        assert_eq!(ok("${UNSET:-${INNER}}"), "inner");
        assert_eq!(ok("${UNSET:-${ALSO_UNSET:-deep}/x}"), "deep/x");
        assert_eq!(ok("${UNSET:-$$}"), "$");
    }

    #[test]
    fn plus_gives_the_alternative_when_set() {
        assert_eq!(ok("${SET:+alt}"), "alt");
        assert_eq!(ok("${EMPTY:+alt}"), "");
        assert_eq!(ok("${EMPTY+alt}"), "alt");
        assert_eq!(ok("${UNSET+alt}"), "");
        assert_eq!(ok("${SET+$INNER}"), "inner");
    }

    #[test]
    fn question_mark_requires_the_variable() {
        assert_eq!(ok("${SET:?need it}"), "value");
        assert_eq!(ok("${EMPTY?need it}"), "");
        assert_eq!(
            err("${UNSET:?set the port}"),
            InterpolateError::Required {
                name: "UNSET".into(),
                message: "set the port".into()
            }
        );
        assert_eq!(
            err("${EMPTY:?}"),
            InterpolateError::Required {
                name: "EMPTY".into(),
                message: "it is unset or empty".into()
            }
        );
        assert_eq!(
            err("${UNSET?}"),
            InterpolateError::Required {
                name: "UNSET".into(),
                message: "it is unset".into()
            }
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        assert_eq!(
            err("x${"),
            InterpolateError::Syntax("\"${\" has no closing brace in \"x${\"".into())
        );
        assert_eq!(
            err("${1A}"),
            InterpolateError::Syntax("\"${1A}\": \"1A\" is not a variable name".into())
        );
        assert_eq!(
            err("${}"),
            InterpolateError::Syntax("\"${}\": \"\" is not a variable name".into())
        );
        assert_eq!(
            err("${A:x}"),
            InterpolateError::Syntax("\"${A:x}\": \":x\" is not one of :-, -, :?, ?, :+, +".into())
        );
        assert_eq!(
            err("cost: 5$"),
            InterpolateError::Syntax("\"cost: 5$\" has a $ that starts no variable".into())
        );
        assert!(matches!(err("$1"), InterpolateError::Syntax(_)));
        assert!(matches!(err("${UNSET:-${}"), InterpolateError::Syntax(_)));
    }

    #[test]
    fn spans_point_at_each_variables_output() {
        let e = expand("127.0.0.1:${PORT:-3000}:3000", &env).unwrap();
        assert_eq!(e.text, "127.0.0.1:8080:3000");
        assert_eq!(
            e.vars,
            vec![VarSpan {
                name: "PORT".into(),
                range: 10..14
            }]
        );
        let e = expand("${UNSET:-3000}:$SET", &env).unwrap();
        assert_eq!(e.text, "3000:value");
        assert_eq!(
            e.vars,
            vec![
                VarSpan {
                    name: "UNSET".into(),
                    range: 0..4
                },
                VarSpan {
                    name: "SET".into(),
                    range: 5..10
                },
            ]
        );
    }

    #[test]
    fn value_walk_interpolates_values_not_keys_and_names_the_path() {
        let mut v: Value =
            serde_norway::from_str("a:\n  $SET: ${SET}\n  list: [x, '${PORT}', 3]\n").unwrap();
        let mut provenance = Provenance::new();
        interpolate_value(&mut v, "", &env, &mut provenance).unwrap();
        assert_eq!(v["a"]["$SET"], Value::String("value".into()));
        assert_eq!(v["a"]["list"][1], Value::String("8080".into()));
        assert_eq!(v["a"]["list"][2], Value::Number(3.into()));
        assert_eq!(
            provenance.keys().collect::<Vec<_>>(),
            vec!["a.$SET", "a.list[1]"]
        );

        let mut bad: Value = serde_norway::from_str("s:\n  x:\n    image: ${1A}\n").unwrap();
        let (path, _) = interpolate_value(&mut bad, "", &env, &mut provenance).unwrap_err();
        assert_eq!(path, "s.x.image");
    }
}
