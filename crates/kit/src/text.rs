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

/// Whether `id` may stand as the id part of a resource name (AIP-122):
/// 1 to 63 lowercase letters, digits or hyphens, starting with a letter and
/// not ending with a hyphen.
pub fn is_resource_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.ends_with('-')
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

    #[test]
    fn resource_ids() {
        assert!(super::is_resource_id("p15-2025") && super::is_resource_id("online-services"));
        assert!(
            !super::is_resource_id("P15")
                && !super::is_resource_id("")
                && !super::is_resource_id("1x")
        );
        assert!(!super::is_resource_id("x-") && !super::is_resource_id(&"a".repeat(64)));
    }
}
