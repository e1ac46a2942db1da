//! Failures reading a telemetry back end: each names the back end, its URL and the cause, so a
//! caller can print it as a note ("… showing engine signals only") and carry on.
use std::time::Duration;

/// What went wrong asking Prometheus or Jaeger. A back end that answers with no data is not an
/// error: queries return empty results and the key signals `None`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignalError {
    /// The base URL (from the compose file or the user) is not a URL we can send to.
    #[error("{backend} URL {url:?} is not usable: {cause}")]
    BadUrl {
        backend: &'static str,
        url: String,
        cause: String,
    },

    /// Nothing listens there, or the connection broke.
    #[error("{backend} at {url} cannot be reached: {cause}")]
    Unreachable {
        backend: &'static str,
        url: String,
        cause: String,
    },

    /// It took longer than the client's timeout (short on purpose: a diagnosis must not hang).
    #[error("{backend} at {url} did not answer in {}", humantime::format_duration(*.after))]
    Timeout {
        backend: &'static str,
        url: String,
        after: Duration,
    },

    /// It answered with an HTTP error; `message` is its own explanation when it gave one.
    #[error("{backend} at {url} answered HTTP {status}: {message}")]
    Http {
        backend: &'static str,
        url: String,
        status: u16,
        message: String,
    },

    /// It answered 2xx but the body is not what the API documents.
    #[error("{backend} at {url} sent an answer that is not its API's JSON: {cause}")]
    Decode {
        backend: &'static str,
        url: String,
        cause: String,
    },

    /// It answered and refused the query (`"status": "error"`, or Jaeger's `errors`).
    #[error("{backend} at {url} rejected the query: {message}")]
    Rejected {
        backend: &'static str,
        url: String,
        message: String,
    },
}

impl SignalError {
    /// Whether the back end is absent (down, not listening, too slow) rather than unhappy with
    /// what we asked: the former is a normal situation for `diagnose` and `status`.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            SignalError::Unreachable { .. } | SignalError::Timeout { .. }
        )
    }

    /// Maps a transport error from reqwest onto the kinds above.
    pub(crate) fn from_transport(
        backend: &'static str,
        url: &str,
        timeout: Duration,
        error: &reqwest::Error,
    ) -> Self {
        if error.is_timeout() {
            return SignalError::Timeout {
                backend,
                url: url.to_string(),
                after: timeout,
            };
        }
        if error.is_decode() {
            return SignalError::Decode {
                backend,
                url: url.to_string(),
                cause: chain(error),
            };
        }
        SignalError::Unreachable {
            backend,
            url: url.to_string(),
            cause: chain(error),
        }
    }
}

/// The most specific cause of a transport error: reqwest's own message is the outermost layer
/// ("error sending request for url (…)"), the one that helps ("Connection refused") the
/// innermost.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(inner) = innermost.source() {
        innermost = inner;
    }
    innermost.to_string()
}
