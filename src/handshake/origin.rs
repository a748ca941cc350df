//! Web origins (RFC 6454) for the allowed-origins check.

use std::fmt;

use http::{header, HeaderMap, Uri};

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
        // `Uri` checks the grammar of host and port; what an origin may not have besides
        // (`Uri` reads "/" into a missing path, and an empty port as none) is checked here.
        let (_, after_scheme) = s.split_once("://")?;
        // RFC 3986 §3.1: a scheme starts with a letter (`Uri` takes any scheme character).
        if !s.starts_with(|c: char| c.is_ascii_alphabetic())
            || after_scheme.contains(['/', '?', '#', '@'])
            || after_scheme.ends_with(':')
        {
            return None;
        }
        let uri: Uri = s.parse().ok()?;
        let authority = uri.authority()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        // `Authority::port` reads a port that is out of range as none: read it here.
        let port = match authority.as_str()[authority.host().len()..].strip_prefix(':') {
            None => None,
            Some(digits) => {
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let port = digits.parse::<u16>().ok()?;
                (Some(port) != default_port(&scheme)).then_some(port)
            }
        };
        Some(Origin {
            scheme,
            host: authority.host().to_ascii_lowercase(),
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

/// Which origins may open sockets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins {
    /// Empty: any origin.
    pub(crate) allowed: Vec<Origin>,
    /// Whether a request without `Origin` (not from a browser) fails the check.
    pub(crate) refuse_missing: bool,
}

impl Origins {
    /// Whether the request's `Origin` passes: absent (unless refused), one of the allowed
    /// origins, or any origin when none are configured. Several `Origin` headers never do.
    pub(super) fn allow(&self, headers: &HeaderMap) -> bool {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let origin = match (origins.next(), origins.next()) {
            (None, _) => return !self.refuse_missing,
            (Some(origin), None) => origin,
            (Some(_), Some(_)) => return false,
        };
        if self.allowed.is_empty() {
            return true;
        }
        let Some(origin) = origin.to_str().ok().and_then(Origin::parse) else {
            return false;
        };
        self.allowed.contains(&origin)
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
