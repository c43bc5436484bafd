//! The webhook host allow-list: entries are exact host names (or IP
//! literals) or `*.suffix` wildcards matching subdomains of `suffix` (not
//! `suffix` itself); comparison ignores case, surrounding blanks, IPv6
//! brackets and a trailing root dot. An empty list allows every host.

/// A normalised allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<String>,
}

impl AllowList {
    /// The list of `entries` as configured (`a.gov.vn`, `*.gov.vn`).
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        Self {
            entries: entries
                .iter()
                .map(|entry| normalise_host(entry.as_ref()))
                .collect(),
        }
    }

    /// Whether the list restricts anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `host` (as a URL names it) may receive webhooks.
    pub fn allows(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.is_empty() || self.entries.iter().any(|entry| matches(entry, &host))
    }
}

/// Lower case, without surrounding blanks, IPv6 brackets or a trailing
/// root dot.
pub fn normalise_host(host: &str) -> String {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// `host` equals `entry`, or `entry` is `*.suffix` and `host` ends in
/// `.suffix` with at least one character before it.
fn matches(entry: &str, host: &str) -> bool {
    match entry.strip_prefix("*.") {
        Some(suffix) if !suffix.is_empty() => host
            .strip_suffix(suffix)
            .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
        _ => entry == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_allows_every_host() {
        let list = AllowList::new::<&str>(&[]);
        assert!(list.allows("hooks.example.com") && list.allows("127.0.0.1"));
        // An entry that normalises to nothing still restricts: it fails closed.
        let blank = AllowList::new(&["."]);
        assert!(!blank.is_empty() && !blank.allows("hooks.example.com"));
    }

    #[test]
    fn exact_entries_match_case_insensitively() {
        let list = AllowList::new(&["Hooks.Example.com"]);
        assert!(list.allows("hooks.example.com"));
        assert!(list.allows("HOOKS.EXAMPLE.COM"));
        assert!(list.allows("hooks.example.com."));
        assert!(!list.allows("other.example.com"));
        assert!(!list.allows("hooks.example.com.evil.io"));
        assert!(!list.allows("a.hooks.example.com"));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let list = AllowList::new(&["*.example.com"]);
        assert!(list.allows("a.example.com"));
        assert!(list.allows("a.b.EXAMPLE.com"));
        assert!(!list.allows("example.com"));
        assert!(!list.allows("badexample.com"));
        assert!(!list.allows(".example.com"));
        assert!(!list.allows("a.example.com.evil.io"));
    }

    #[test]
    fn ip_literals_match_exact_entries() {
        let list = AllowList::new(&["127.0.0.1", "[::1]", "::2"]);
        assert!(list.allows("127.0.0.1"));
        assert!(list.allows("[::1]"));
        assert!(list.allows("::1"));
        assert!(list.allows("[::2]"));
        assert!(!list.allows("127.0.0.2"));
    }

    #[test]
    fn a_bare_star_allows_nothing_extra() {
        let list = AllowList::new(&["*.", "*"]);
        assert!(!list.is_empty());
        assert!(!list.allows("example.com"));
    }
}
