//! Calendar dates as the API carries them: ISO-8601 strings ("2025-07-01").

use crate::errors::invalid_argument;
use chrono::NaiveDate;

/// Parses a required date field, naming the field in the error.
pub fn parse(field: &str, value: &str) -> Result<NaiveDate, tonic::Status> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        invalid_argument(
            field,
            format!("must be a date like 2025-07-01, got {value:?}"),
        )
    })
}

/// Parses an optional date field: empty means `None`.
pub fn parse_opt(field: &str, value: &str) -> Result<Option<NaiveDate>, tonic::Status> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        parse(field, value).map(Some)
    }
}

/// Formats an optional date for the API (empty when absent).
pub fn format_opt(date: Option<NaiveDate>) -> String {
    date.map(|d| d.to_string()).unwrap_or_default()
}
