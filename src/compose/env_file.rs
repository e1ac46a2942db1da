//! The `.env` file beside the compose file: `KEY=VALUE` lines that feed interpolation.
//!
//! Compose reads it too, so the same file moves ports and images for `demo` and for
//! `docker compose`. Values are taken literally (no `${...}` expansion inside `.env`).
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

use super::error::{ComposeError, io_reason};

/// Reads `path`; a missing file is an empty environment, as in compose.
pub(crate) fn read(path: &Path) -> Result<BTreeMap<String, String>, ComposeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse(&text, path)?.into_iter().collect()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(ComposeError::ReadEnvFile {
            path: path.to_path_buf(),
            reason: io_reason(&e),
        }),
    }
}

/// Parses `.env` text: blank lines and `#` comments skipped, an optional `export ` prefix,
/// values optionally in single quotes (literal) or double quotes (`\n`, `\t`, `\"`, `\\`
/// escapes), unquoted values cut at ` #`. Later lines win.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Vec<(String, String)>, ComposeError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |problem: String| ComposeError::EnvFile {
            path: path.to_path_buf(),
            line: index + 1,
            problem,
        };
        let line = line
            .strip_prefix("export")
            .filter(|r| r.starts_with([' ', '\t']))
            .unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(fail(format!("\"{line}\" has no =")));
        };
        let key = key.trim();
        if !is_key(key) {
            return Err(fail(format!("\"{key}\" is not a variable name")));
        }
        let value = parse_value(value.trim_start()).map_err(fail)?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn is_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b == b'.' || b == b'-' || b.is_ascii_alphanumeric())
}

fn parse_value(value: &str) -> Result<String, String> {
    let (parsed, after) = if let Some(body) = value.strip_prefix('\'') {
        let end = body.find('\'').ok_or("the single quote is never closed")?;
        (body[..end].to_string(), &body[end + 1..])
    } else if let Some(body) = value.strip_prefix('"') {
        let mut parsed = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i);
                    break;
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => parsed.push('\n'),
                    Some('t') => parsed.push('\t'),
                    Some('r') => parsed.push('\r'),
                    Some(other) => parsed.push(other),
                    None => return Err("the double quote is never closed".into()),
                },
                c => parsed.push(c),
            }
        }
        let end = end.ok_or("the double quote is never closed")?;
        (parsed, &body[end + 1..])
    } else {
        let cut = value
            .char_indices()
            .find(|&(i, c)| c == '#' && value[..i].ends_with([' ', '\t']))
            .map_or(value.len(), |(i, _)| i);
        return Ok(value[..cut].trim_end().to_string());
    };
    let after = after.trim();
    if after.is_empty() || after.starts_with('#') {
        Ok(parsed)
    } else {
        Err(format!("unexpected \"{after}\" after the closing quote"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        parse(text, Path::new("compose/.env")).unwrap()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn plain_lines_comments_and_export() {
        let text =
            "# ports\n\nGRAFANA_PORT=3001\nexport IMAGE=demo/x:1\n  SPACED = yes  \nEMPTY=\n";
        assert_eq!(
            parsed(text),
            vec![
                pair("GRAFANA_PORT", "3001"),
                pair("IMAGE", "demo/x:1"),
                pair("SPACED", "yes"),
                pair("EMPTY", ""),
            ]
        );
    }

    #[test]
    fn quotes_are_stripped() {
        let text = "A='single # not a comment'\nB=\"double \\\"q\\\" \\n\" # comment\nC=x # comment\nD=a#b\nE='$LITERAL'\n";
        assert_eq!(
            parsed(text),
            vec![
                pair("A", "single # not a comment"),
                pair("B", "double \"q\" \n"),
                pair("C", "x"),
                pair("D", "a#b"),
                pair("E", "$LITERAL"),
            ]
        );
    }

    #[test]
    fn a_variable_named_exporter_is_not_an_export() {
        assert_eq!(parsed("exporter=otlp\n"), vec![pair("exporter", "otlp")]);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let err = parse("A=1\nNOT A LINE\n", Path::new("compose/.env")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "compose/.env:2: \"NOT A LINE\" has no =; write KEY=VALUE, one per line"
        );
        let err = parse("\n1X=2\n", Path::new(".env")).unwrap_err();
        assert_eq!(
            err.to_string(),
            ".env:2: \"1X\" is not a variable name; write KEY=VALUE, one per line"
        );
        let err = parse("A=\"open\n", Path::new(".env")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(".env:1: the double quote is never closed")
        );
        let err = parse("A='x' y\n", Path::new(".env")).unwrap_err();
        assert!(
            err.to_string()
                .contains("unexpected \"y\" after the closing quote")
        );
    }

    #[test]
    fn missing_file_is_empty_and_present_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        assert!(read(&path).unwrap().is_empty());
        std::fs::write(&path, "A=1\nA=2\n").unwrap();
        assert_eq!(read(&path).unwrap().get("A").map(String::as_str), Some("2"));
    }
}
