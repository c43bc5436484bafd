//! Small checks on free-text request fields.

/// Longest search text or name prefix a list request may send, in
/// characters. Such a value becomes a `LIKE` pattern, and SQLite refuses
/// patterns over 50,000 bytes ("LIKE or GLOB pattern too complex"): bound
/// well under that, so a long one is the caller's mistake, not INTERNAL.
pub const MAX_PATTERN_CHARS: usize = 512;

/// INVALID_ARGUMENT on `field` when `value`, a search text or prefix that
/// becomes a `LIKE` pattern, is longer than [`MAX_PATTERN_CHARS`] or holds
/// a NUL character (which PostgreSQL refuses in a text value).
pub fn check_pattern(field: &str, value: &str) -> Result<(), tonic::Status> {
    if value.chars().count() > MAX_PATTERN_CHARS {
        return Err(crate::errors::invalid_argument(
            field,
            format!("must be at most {MAX_PATTERN_CHARS} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(crate::errors::invalid_argument(
            field,
            "must not contain a NUL character",
        ));
    }
    Ok(())
}

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
    fn patterns_are_bounded() {
        let longest = "đ".repeat(super::MAX_PATTERN_CHARS);
        assert!(super::check_pattern("query", &longest).is_ok());
        let refused = super::check_pattern("query", &format!("{longest}a")).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            crate::errors::violation(&refused).map(|v| v.0).as_deref(),
            Some("query")
        );
        assert!(super::check_pattern("query", "Hà\0Nội").is_err());
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
