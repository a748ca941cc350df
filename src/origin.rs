//! Web origins (RFC 6454) for the allowed-origins check.

use std::fmt;

/// A web origin: scheme, host and port, compared the way RFC 6454 §5 compares them
/// (scheme and host case-insensitively, a default port the same as none).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    /// `None` for the scheme's default port.
    port: Option<u16>,
}

impl Origin {
    /// Parses the serialisation `scheme "://" host [ ":" port ]`. `null` (an opaque origin)
    /// and anything with a path, query, fragment or user info is not an origin.
    pub(crate) fn parse(s: &str) -> Option<Origin> {
        let (scheme, rest) = s.split_once("://")?;
        let mut chars = scheme.chars();
        if !chars.next()?.is_ascii_alphabetic()
            || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return None;
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        let (host, port) = if rest.starts_with('[') {
            // An IPv6 literal: `[addr]` or `[addr]:port`.
            let end = rest.find(']')?;
            let (host, after) = rest.split_at(end + 1);
            let addr = &host[1..end];
            if addr.is_empty()
                || !addr
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || ":.".contains(c))
            {
                return None;
            }
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        let port = match port {
            None => None,
            Some(digits) => {
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let port: u16 = digits.parse().ok()?;
                (Some(port) != default_port(&scheme)).then_some(port)
            }
        };
        Some(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Origin;

    fn same(a: &str, b: &str) -> bool {
        Origin::parse(a).unwrap() == Origin::parse(b).unwrap()
    }

    #[test]
    fn comparison_ignores_case_and_default_ports() {
        assert!(same("https://Example.COM", "HTTPS://example.com:443"));
        assert!(same("http://example.com:80", "http://example.com"));
        assert!(same("http://[::1]:8080", "http://[::1]:8080"));
        assert!(!same("http://example.com", "https://example.com"));
        assert!(!same("http://example.com:8080", "http://example.com"));
        assert!(!same("https://example.com", "https://www.example.com"));
    }

    #[test]
    fn non_origins_are_refused() {
        for bad in [
            "null",
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com:",
            "https://example.com:99999",
            "https://example.com:8o",
            "https://[::1",
            "1http://example.com",
        ] {
            assert!(Origin::parse(bad).is_none(), "{bad}");
        }
    }
}
