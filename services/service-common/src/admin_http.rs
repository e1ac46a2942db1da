//! A loopback-sized HTTP/1.1 responder for the services' admin JSON and its blocking client.
//!
//! It answers `GET <path>` with whatever the caller's renderer returns for that path, one request
//! per connection; the client is what `--state` and `--healthcheck` run inside the container,
//! so it needs neither a runtime nor a published port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The largest request head we read; an admin request is one short line and a few headers.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// A client that sends nothing for this long is dropped so it cannot hold a task forever.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Renders the JSON body for a request path, or `None` for "404 not found".
pub type Renderer = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Serves `GET` requests on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, render: Renderer) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT, answer(stream, render)).await;
        });
    }
}

async fn answer(mut stream: tokio::net::TcpStream, render: Renderer) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut chunk).await?;
        if read == 0 || head.len() + read > MAX_REQUEST_HEAD {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let request_line = String::from_utf8_lossy(&head);
    let mut words = request_line.split_whitespace();
    let response = match (words.next(), words.next()) {
        (Some("GET"), Some(path)) => match render(path) {
            Some(body) => response("200 OK", &body),
            None => response("404 Not Found", r#"{"error":"not found"}"#),
        },
        _ => response("405 Method Not Allowed", r#"{"error":"only GET"}"#),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Fetches `path` from the admin endpoint on `127.0.0.1:port` and returns the body of a 200.
///
/// Errors are one line that names what failed, ready to print.
pub fn get(port: u16, path: &str, timeout: Duration) -> Result<String, String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| format!("cannot connect to the admin endpoint {address}: {error}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|error| format!("cannot configure the connection to {address}: {error}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|error| format!("cannot send the request to {address}: {error}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|error| format!("no complete answer from {address}: {error}"))?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed answer from {address}"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{address}{path} answered '{status}'"));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start(render: Renderer) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, render));
        port
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_returns_the_rendered_body_of_a_known_path() {
        let port = start(Arc::new(|path: &str| {
            (path == "/state").then(|| r#"{"ok":true}"#.to_string())
        }))
        .await;
        let body = tokio::task::spawn_blocking(move || get(port, "/state", Duration::from_secs(2)))
            .await
            .unwrap();
        assert_eq!(body.unwrap(), r#"{"ok":true}"#);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_path_is_an_error_naming_the_status() {
        let port = start(Arc::new(|_: &str| None)).await;
        let error = tokio::task::spawn_blocking(move || get(port, "/nope", Duration::from_secs(2)))
            .await
            .unwrap()
            .unwrap_err();
        assert!(error.contains("404"), "{error}");
    }

    #[test]
    fn nothing_listening_is_a_one_line_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = get(port, "/state", Duration::from_millis(500)).unwrap_err();
        assert!(error.starts_with("cannot connect"), "{error}");
        assert!(!error.contains('\n'));
    }
}
