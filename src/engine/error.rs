//! Typed engine failures: each names the operation, the object and what the user can do.
use std::time::Duration;

/// What went wrong talking to the Docker engine. Every message is one line with cause and fix;
/// wait failures add the health output and log tail on the lines after it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker engine at {host}: {cause}; start Docker or point DOCKER_HOST at a running engine"
    )]
    Unreachable { host: String, cause: String },

    #[error("failed to {op}: {cause}")]
    Api { op: String, cause: String },

    #[error("host port {address} for service \"{service}\" is already taken; free it{}", variable_hint(.variable))]
    PortTaken {
        address: String,
        service: String,
        variable: Option<String>,
    },

    #[error(
        "a {kind} named \"{name}\" already exists and was not created by demo; remove or rename it, or pick another --project"
    )]
    NameClash { kind: &'static str, name: String },

    #[error(
        "image \"{image}\" for service \"{service}\" is not in the engine and no registry answered ({cause}); load it into the engine, or point {variable} at an image that is present"
    )]
    ImageUnavailable {
        image: String,
        service: String,
        variable: String,
        cause: String,
    },

    #[error("service \"{service}\" is unhealthy{}{}", indent_block("health check", .health), indent_block("log tail", .log_tail))]
    Unhealthy {
        service: String,
        health: String,
        log_tail: String,
    },

    #[error("service \"{service}\" exited with code {code}{}{}", if *.oom { " (killed for running out of memory)" } else { "" }, indent_block("log tail", .log_tail))]
    Exited {
        service: String,
        code: i64,
        oom: bool,
        log_tail: String,
    },

    #[error("service \"{service}\" was not healthy after {}; raise --wait-timeout or check `demo status`{}{}", humantime::format_duration(*.after), indent_block("health check", .health), indent_block("log tail", .log_tail))]
    WaitTimeout {
        service: String,
        after: Duration,
        health: String,
        log_tail: String,
    },

    #[error("service \"{service}\" was not ready after {}: {last}; raise --wait-timeout or check its logs", humantime::format_duration(*.after))]
    NotReady {
        service: String,
        after: Duration,
        last: String,
    },

    /// A config cannot be placed where the compose file says (nothing was started).
    #[error(
        "service \"{service}\": config target {target} cannot be written in image {image}: {problem}; {fix}"
    )]
    ConfigTarget {
        service: String,
        target: String,
        image: String,
        problem: String,
        fix: &'static str,
    },

    #[error(
        "service \"{service}\" disappeared while demo waited for it; something else removed it"
    )]
    Vanished { service: String },
}

fn variable_hint(variable: &Option<String>) -> String {
    match variable {
        Some(var) => format!(" or set {var} to another port"),
        None => " or publish the service on another port".to_string(),
    }
}

/// Context under an error's first line, indented so the one-line cause stays readable.
/// `body` under `title` on the lines after a message, indented; nothing when `body` is empty.
pub fn indent_block(title: &str, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = body.lines().map(|line| format!("    {line}")).collect();
    format!("\n  {title}:\n{}", lines.join("\n"))
}

impl EngineError {
    /// Wraps a bollard error for `op` ("create container demo-grafana-1").
    pub(crate) fn api(op: impl Into<String>, err: bollard::errors::Error) -> Self {
        EngineError::Api {
            op: op.into(),
            cause: cause_of(&err),
        }
    }
}

/// The engine's own message where it sent one; bollard's otherwise, followed by the causes it
/// wraps (its "client error (SendRequest)" alone does not say that the connection closed).
pub(crate) fn cause_of(err: &bollard::errors::Error) -> String {
    match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            message.trim().to_string()
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let part = cause.to_string();
                if !text.contains(&part) {
                    text = format!("{text}: {part}");
                }
                source = cause.source();
            }
            if hung_up(&text) {
                format!("the engine closed the connection ({text})")
            } else {
                text
            }
        }
    }
}

/// hyper words an engine that hangs up in two ways, by whether the request was out yet:
/// "connection closed before message completed" or "operation was canceled: connection was
/// not ready". Either way the user needs the one fact.
fn hung_up(text: &str) -> bool {
    text.contains("connection closed") || text.contains("connection was not ready")
}

/// HTTP status of an engine answer, when the engine answered at all.
pub(crate) fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::hung_up;

    #[test]
    fn both_of_hypers_words_for_a_hang_up_are_one() {
        assert!(hung_up(
            "error in the hyper legacy client: client error (SendRequest): connection closed before message completed"
        ));
        assert!(hung_up(
            "Error in the hyper legacy client: client error (Canceled): operation was canceled: connection was not ready"
        ));
        assert!(!hung_up("No such container: demo-1"));
    }
}
