//! chat-server's web port: the web page's files (everything under
//! `examples/web/`, embedded in the binary at build time), `/peers.json` (the
//! other nodes the page may move to) and the WebSocket endpoint `/ws`, on one
//! HTTP port.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use chatcore::transport::ws::HttpHandler;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use rust_embed::RustEmbed;

/// The web page's files. `build.rs` reruns the build when the folder changes,
/// so a new file is picked up without a code change.
#[derive(RustEmbed)]
#[folder = "web/"]
struct Page;

/// The embedded file at a request path (`/` is `index.html`), if any.
pub fn file(path: &str) -> Option<(Cow<'static, [u8]>, String)> {
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() || name.ends_with('/') {
        Cow::Owned(format!("{name}index.html"))
    } else {
        Cow::Borrowed(name)
    };
    let file = Page::get(&name)?;
    let mime = file.metadata.mimetype();
    // Text is UTF-8 (the page's files are).
    let mime = if (mime.starts_with("text/") || mime == "application/javascript")
        && !mime.contains("charset")
    {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    Some((file.data, mime))
}

/// The names of the embedded files.
pub fn files() -> impl Iterator<Item = Cow<'static, str>> {
    Page::iter()
}

/// Another node's web port (`chat-server --web-peer`), where a page served
/// here may move when this node goes away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPeer {
    origin: String,
    ws_url: String,
}

impl WebPeer {
    /// Reads `http://host:port` or `https://host:port` (a trailing `/` is
    /// fine; a path, query or other scheme is not).
    pub fn parse(text: &str) -> Result<WebPeer, String> {
        let uri: http::Uri = text
            .trim()
            .parse()
            .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let ws = match uri.scheme_str() {
            Some("http") => "ws",
            Some("https") => "wss",
            _ => return Err(format!("{text:?}: the scheme must be http or https")),
        };
        let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
            return Err(format!("{text:?}: no host"));
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "{text:?}: give the web port's origin only (scheme://host:port), no path"
            ));
        }
        let authority = authority.as_str().to_ascii_lowercase();
        if authority.contains('@') {
            return Err(format!("{text:?}: no user name in a peer's address"));
        }
        let scheme = uri.scheme_str().unwrap_or("http");
        Ok(WebPeer {
            origin: format!("{scheme}://{authority}"),
            ws_url: format!("{ws}://{authority}/ws"),
        })
    }

    /// The origin its pages send (`http://host:port`): allowed to open
    /// WebSockets here.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Its WebSocket endpoint (`ws://host:port/ws`).
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }
}

/// The policy for every response: the page loads only its own files, and
/// connects only to its own server and the peers'.
fn content_security_policy(peers: &[WebPeer]) -> String {
    let mut connect = String::from("'self'");
    for peer in peers {
        connect.push(' ');
        connect.push_str(peer.ws_url());
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
         connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Answers `GET`/`HEAD` for the embedded files and `/peers.json`
/// (`{"peers": [WebSocket URLs]}`, from `peers`); 404 for anything else.
pub fn handler(peers: &[WebPeer]) -> HttpHandler {
    let csp = HeaderValue::from_str(&content_security_policy(peers))
        .expect("URLs parsed by WebPeer are valid header text");
    let peers_json = Bytes::from(
        serde_json::json!({ "peers": peers.iter().map(WebPeer::ws_url).collect::<Vec<_>>() })
            .to_string(),
    );
    Arc::new(move |request: &http::request::Parts| {
        if request.method != Method::GET && request.method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let (data, mime) = if request.uri.path() == "/peers.json" {
            (peers_json.clone(), "application/json".to_owned())
        } else {
            let Some((data, mime)) = file(request.uri.path()) else {
                return plain(StatusCode::NOT_FOUND, "not found\n");
            };
            let data = match data {
                Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                Cow::Owned(bytes) => Bytes::from(bytes),
            };
            (data, mime)
        };
        let body = if request.method == Method::HEAD {
            Bytes::new()
        } else {
            data
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&mime)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
        // The files change only with the binary: revalidate, never go stale.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
        response
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(text.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_types() {
        let (index, mime) = file("/").expect("index.html is embedded");
        assert!(std::str::from_utf8(&index).unwrap().contains("<html"));
        assert_eq!(mime, "text/html; charset=utf-8");
        assert!(file("/no-such-file.js").is_none());
        assert!(file("/../Cargo.toml").is_none());
        // Every file under examples/web/ is embedded with a type.
        for name in files() {
            let (_, mime) = file(&name).unwrap();
            assert!(!mime.is_empty(), "{name}");
        }
    }

    #[test]
    fn peers_parse_into_origins_and_endpoints() {
        let peer = WebPeer::parse("http://127.0.0.1:8081").unwrap();
        assert_eq!(peer.origin(), "http://127.0.0.1:8081");
        assert_eq!(peer.ws_url(), "ws://127.0.0.1:8081/ws");
        let peer = WebPeer::parse("https://Chat.Example.com/").unwrap();
        assert_eq!(peer.origin(), "https://chat.example.com");
        assert_eq!(peer.ws_url(), "wss://chat.example.com/ws");
        for bad in [
            "127.0.0.1:8081",
            "ws://127.0.0.1:8081",
            "http://127.0.0.1:8081/chat",
            "http://127.0.0.1:8081/?x=1",
            "http://user@host:8081",
            "not a url",
        ] {
            assert!(WebPeer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_policy_lets_the_page_reach_its_peers_only() {
        let peers = [
            WebPeer::parse("http://127.0.0.1:8081").unwrap(),
            WebPeer::parse("https://b.example:8443").unwrap(),
        ];
        let csp = content_security_policy(&peers);
        assert!(
            csp.contains("connect-src 'self' ws://127.0.0.1:8081/ws wss://b.example:8443/ws;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(content_security_policy(&[]).contains("connect-src 'self';"));
    }
}
