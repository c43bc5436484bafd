//! Small checks on free-text request fields.

/// Whether `s` is an http or https URL with a host.
pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains(char::is_whitespace) && !host.contains('@')
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_urls() {
        assert!(super::is_http_url("https://hanoi.gov.vn/ke-hoach"));
        assert!(super::is_http_url("http://10.0.0.1:8080/x"));
        assert!(!super::is_http_url("ftp://x"));
        assert!(!super::is_http_url("https://"));
        assert!(!super::is_http_url("https://user@evil/"));
    }
}
