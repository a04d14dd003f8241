//! chat-server's web port: the web page's files (everything under
//! `examples/web/`, embedded in the binary at build time) and the WebSocket
//! endpoint `/ws`, on one HTTP port.

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

/// Answers `GET`/`HEAD` for the embedded files; 404 for anything else.
pub fn handler() -> HttpHandler {
    Arc::new(|request: &http::request::Parts| {
        if request.method != Method::GET && request.method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let Some((data, mime)) = file(request.uri.path()) else {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        };
        let body = if request.method == Method::HEAD {
            Bytes::new()
        } else {
            match data {
                Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                Cow::Owned(bytes) => Bytes::from(bytes),
            }
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
        // The page may not be framed by another site.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
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
}
