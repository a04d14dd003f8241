//! Which browser pages may open a WebSocket to the server ([`OriginPolicy`]).
//!
//! A browser names the page that opens a WebSocket in the `Origin` header and
//! lets any page connect anywhere, so the server decides. By default only the
//! server's own page may: the `Origin`'s host and port must be the `Host` the
//! request was sent to (the page was served from that address). Clients that
//! are not browsers send no `Origin` and are not checked: they could send any.

/// Which `Origin`s may connect, beside the server's own page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    any: bool,
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// Only the server's own page (the default).
    pub fn same_host() -> Self {
        Self::default()
    }

    /// Any page (`*`).
    pub fn any() -> Self {
        OriginPolicy {
            any: true,
            allowed: Vec::new(),
        }
    }

    /// Also allows `origin`: `*` for any, or `scheme://host[:port]` (as a
    /// browser sends it; compared without regard to case, a default port
    /// may be left out).
    pub fn allow(mut self, origin: &str) -> Self {
        if origin.trim() == "*" {
            self.any = true;
        } else if let Some(normal) = normalize(origin) {
            self.allowed.push(normal);
        } else {
            // Kept as written: it matches only itself, e.g. "null".
            self.allowed.push(origin.trim().to_ascii_lowercase());
        }
        self
    }

    /// Whether any page may connect.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Whether a request with this `Origin` (if any) sent to this `Host` (if
    /// any) over TLS (`tls`) may connect.
    pub fn permits(&self, origin: Option<&str>, host: Option<&str>, tls: bool) -> bool {
        let Some(origin) = origin else {
            return true; // not a browser
        };
        if self.any {
            return true;
        }
        let Some(normal) = normalize(origin) else {
            // "null" (a sandboxed or file page) or garbage: only if listed.
            let raw = origin.trim().to_ascii_lowercase();
            return self.allowed.contains(&raw);
        };
        if self.allowed.contains(&normal) {
            return true;
        }
        // The server's own page: the origin's authority is the Host.
        let Some(host) = host else { return false };
        let own_scheme = if tls { "https" } else { "http" };
        normalize(&format!("{own_scheme}://{host}")).is_some_and(|own| own == normal)
    }
}

/// `scheme://host:port` in lowercase with the port always written, or `None`
/// for something that is not an origin of http(s).
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let default_port = match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    // An IPv6 literal keeps its brackets; the port is after the last ':'
    // outside them.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => {
            let port: u16 = authority[i + 1..].parse().ok()?;
            (&authority[..i], port)
        }
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return None;
    }
    let scheme = if default_port == 443 { "https" } else { "http" };
    Some(format!("{scheme}://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_page_is_the_host_it_was_served_from() {
        let p = OriginPolicy::default();
        assert!(p.permits(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080"), false));
        assert!(p.permits(
            Some("HTTP://LocalHost:8080/"),
            Some("localhost:8080"),
            false
        ));
        assert!(p.permits(Some("http://example.com"), Some("example.com:80"), false));
        assert!(p.permits(Some("https://example.com"), Some("example.com"), true));
        assert!(p.permits(Some("http://[::1]:8080"), Some("[::1]:8080"), false));
        assert!(!p.permits(
            Some("http://evil.example:8080"),
            Some("127.0.0.1:8080"),
            false
        ));
        assert!(!p.permits(Some("http://127.0.0.1:8081"), Some("127.0.0.1:8080"), false));
        assert!(!p.permits(
            Some("https://127.0.0.1:8080"),
            Some("127.0.0.1:8080"),
            false
        ));
        assert!(!p.permits(Some("null"), Some("127.0.0.1:8080"), false));
        assert!(!p.permits(Some("http://127.0.0.1:8080"), None, false));
        // Not a browser: nothing to check.
        assert!(p.permits(None, Some("127.0.0.1:8080"), false));
    }

    #[test]
    fn listed_origins_and_any() {
        let p = OriginPolicy::default().allow("http://localhost:3000");
        assert!(p.permits(Some("http://LOCALHOST:3000"), Some("127.0.0.1:8080"), false));
        assert!(!p.permits(Some("http://localhost:3001"), Some("127.0.0.1:8080"), false));
        let p = OriginPolicy::default().allow("https://chat.example");
        assert!(p.permits(
            Some("https://chat.example:443"),
            Some("127.0.0.1:8080"),
            false
        ));
        let p = OriginPolicy::default().allow("null");
        assert!(p.permits(Some("null"), Some("127.0.0.1:8080"), false));
        let p = OriginPolicy::default().allow("*");
        assert!(p.allows_any());
        assert!(p.permits(Some("http://evil.example"), Some("127.0.0.1:8080"), false));
    }
}
