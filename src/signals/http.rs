//! What the two clients share: a reqwest client with a hard timeout, and a base URL that joins.
use std::time::Duration;

use reqwest::Url;

use super::error::SignalError;

/// Parses `base_url` (a trailing path kept as a prefix, e.g. a reverse proxy's `/jaeger/ui`)
/// and builds a client whose every request, connection included, ends after `timeout`.
pub(crate) fn client(
    backend: &'static str,
    base_url: &str,
    timeout: Duration,
) -> Result<(Url, reqwest::Client), SignalError> {
    let bad = |cause: String| SignalError::BadUrl {
        backend,
        url: base_url.to_string(),
        cause,
    };
    let mut base = Url::parse(base_url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(bad(format!("scheme {:?} is not http", base.scheme())));
    }
    // `join` replaces the last path segment unless the path ends with a slash.
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.set_query(None);
    base.set_fragment(None);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    Ok((base, client))
}

/// The start of a body, for an error message.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None if text.is_empty() => "an empty body".to_string(),
        None => text.to_string(),
    }
}
