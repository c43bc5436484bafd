//! Delivery endpoints of a unit and their validation.

use chrono::{DateTime, Utc};
use p06_kit::egress::Policy;

/// Where notifications for a unit go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contacts {
    /// The unit's id.
    pub unit_id: String,
    /// Webhook URL (http or https), empty when none.
    pub webhook_url: String,
    /// Whether webhooks are sent.
    pub webhook_enabled: bool,
    /// Signing secrets (`whsec_…`), newest first.
    pub webhook_secrets: Vec<String>,
    /// E-mail addresses.
    pub email_addresses: Vec<String>,
    /// Whether e-mail is sent.
    pub email_enabled: bool,
    /// Optimistic-concurrency version (0 before the first write).
    pub version: i64,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A contacts field that fails validation: (field path, what is wrong).
pub type Violation = (&'static str, String);

impl Contacts {
    /// Checks contacts about to replace `before`: [`Contacts::validate`],
    /// and a webhook URL that changed must pass `egress` (scheme, host
    /// allow-list, IP literal address). Host names are not resolved here:
    /// notifications checks the addresses they resolve to when it sends.
    /// An unchanged URL is not checked again, so a unit whose URL predates
    /// a stricter policy can still edit its other contacts; delivery
    /// refuses it all the same.
    pub fn validate_change(&self, before: &Contacts, egress: &Policy) -> Result<(), Violation> {
        self.validate()?;
        let url = self.webhook_url.trim();
        if url.is_empty() || url == before.webhook_url.trim() {
            return Ok(());
        }
        egress
            .check_url(url)
            .map(drop)
            .map_err(|refusal| ("contacts.webhook.url", refusal.to_string()))
    }

    /// Checks the endpoints: URL scheme and shape, secret format, addresses.
    pub fn validate(&self) -> Result<(), Violation> {
        let url = self.webhook_url.trim();
        if !url.is_empty() && !p06_kit::text::is_http_url(url) {
            return Err((
                "contacts.webhook.url",
                format!("must be an http or https URL with a host, got {url:?}"),
            ));
        }
        if self.webhook_enabled && url.is_empty() {
            return Err((
                "contacts.webhook.url",
                "is required when the webhook is enabled".into(),
            ));
        }
        if self.webhook_secrets.len() > 2 {
            return Err((
                "contacts.webhook.secrets",
                "at most two secrets (current and previous)".into(),
            ));
        }
        for s in &self.webhook_secrets {
            let body = s.strip_prefix("whsec_").unwrap_or("");
            if body.len() < 16
                || !body
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            {
                return Err((
                    "contacts.webhook.secrets",
                    "each secret must be whsec_ followed by base64 (at least 16 characters)".into(),
                ));
            }
        }
        if self.webhook_enabled && self.webhook_secrets.is_empty() {
            return Err((
                "contacts.webhook.secrets",
                "an enabled webhook needs a signing secret".into(),
            ));
        }
        for a in &self.email_addresses {
            let (local, domain) = a.split_once('@').unwrap_or(("", ""));
            if local.is_empty() || !domain.contains('.') || a.contains(char::is_whitespace) {
                return Err((
                    "contacts.email.addresses",
                    format!("{a:?} is not an e-mail address"),
                ));
            }
        }
        if self.email_enabled && self.email_addresses.is_empty() {
            return Err((
                "contacts.email.addresses",
                "required when e-mail is enabled".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = Contacts {
            webhook_url: "https://hooks.example.vn/p06".into(),
            webhook_enabled: true,
            webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
            email_addresses: vec!["vp@hanoi.gov.vn".into()],
            email_enabled: true,
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad_url = Contacts {
            webhook_url: "ftp://x".into(),
            ..ok.clone()
        };
        assert_eq!(bad_url.validate().unwrap_err().0, "contacts.webhook.url");
        let bad_secret = Contacts {
            webhook_secrets: vec!["nope".into()],
            ..ok.clone()
        };
        assert_eq!(
            bad_secret.validate().unwrap_err().0,
            "contacts.webhook.secrets"
        );
        let bad_mail = Contacts {
            email_addresses: vec!["x".into()],
            ..ok
        };
        assert_eq!(
            bad_mail.validate().unwrap_err().0,
            "contacts.email.addresses"
        );
    }

    fn with_url(url: &str) -> Contacts {
        Contacts {
            webhook_url: url.into(),
            webhook_enabled: true,
            webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_new_webhook_url_must_pass_the_egress_policy() {
        let strict = Policy::new(&["*.gov.vn"], false, "OPT_IN");
        let none = Contacts::default();
        assert_eq!(
            with_url("https://hooks.hanoi.gov.vn/p06").validate_change(&none, &strict),
            Ok(())
        );
        let (field, message) = with_url("https://evil.example/")
            .validate_change(&none, &strict)
            .unwrap_err();
        assert_eq!(field, "contacts.webhook.url");
        assert!(message.contains("allow-list"), "{message}");

        let open = Policy::new::<&str>(&[], false, "OPT_IN");
        let (field, message) = with_url("http://127.0.0.1:8080/hook")
            .validate_change(&none, &open)
            .unwrap_err();
        assert_eq!(field, "contacts.webhook.url");
        assert!(
            message.contains("loopback") && message.contains("OPT_IN"),
            "{message}"
        );
        // Host names are left to delivery.
        assert_eq!(
            with_url("http://localhost:8080/hook").validate_change(&none, &open),
            Ok(())
        );
        let private = Policy::new::<&str>(&[], true, "OPT_IN");
        assert_eq!(
            with_url("http://127.0.0.1:8080/hook").validate_change(&none, &private),
            Ok(())
        );
    }

    #[test]
    fn an_unchanged_webhook_url_is_not_checked_again() {
        let strict = Policy::new(&["*.gov.vn"], false, "OPT_IN");
        let stored = with_url("https://old.example/hook");
        let mut edited = stored.clone();
        edited.email_addresses = vec!["vp@hanoi.gov.vn".into()];
        assert_eq!(edited.validate_change(&stored, &strict), Ok(()));
    }
}
