//! Time as Gatehouse stores it: milliseconds since the Unix epoch, shown as RFC 3339.

/// Milliseconds since the Unix epoch: how every time is stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A stored time (Unix ms) as RFC 3339 in UTC, as the machine API and webhooks show times.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// An RFC 3339 time as Unix ms, or `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A UTC day (YYYY-MM-DD, as date fields give it) as Unix ms at its midnight, or `None`.
pub fn parse_day(text: &str) -> Option<i64> {
    parse_rfc3339(&format!("{text}T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::parse_rfc3339(&super::rfc3339(1_795_957_652_458)), Some(1_795_957_652_458));
        assert_eq!(super::parse_rfc3339("yesterday"), None);
        assert_eq!(super::parse_day("1970-01-02"), Some(86_400_000));
        assert_eq!(super::parse_day("1970-01-02T00:00:00Z"), None);
    }
}
