//! The simulated clock: wall time plus an offset tests can push forward.

use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicI64,
}

impl SimClock {
    pub fn advance_secs(&self, secs: u64) {
        let ms = i64::try_from(secs)
            .unwrap_or(i64::MAX / 2)
            .saturating_mul(1000);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Milliseconds since the Unix epoch on the simulated clock.
    pub fn now_ms(&self) -> i64 {
        let wall = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        i64::try_from(wall).unwrap_or(0) + self.offset_ms.load(Ordering::SeqCst)
    }

    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// Jira's timestamp format: `2024-01-31T10:11:12.000+0000`.
pub fn jira_time(unix_secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix_secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// IMF-fixdate, as in the HTTP `Date` header (`Sun, 06 Dec 2026 17:55:00 GMT`).
pub fn http_date(unix_secs: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = OffsetDateTime::from_unix_timestamp(unix_secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[u8::from(t.month()) as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// ISO 8601 with `Z`, as in `X-RateLimit-Reset` and agile sprint dates.
pub fn iso_time(unix_secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix_secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `YYYY-MM-DD`.
pub fn iso_date(unix_secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix_secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Parses the date forms JQL and request bodies use: `2024-01-31`, `2024-01-31 10:11`,
/// `2024/01/31`, and full ISO 8601 / Jira timestamps. Returns Unix seconds (UTC).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits: Vec<i64> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .take(6)
        .map(|p| p.parse::<i64>().ok())
        .collect::<Option<Vec<_>>>()?;
    if digits.len() < 3 || digits[0] < 1970 {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(digits[1]).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(digits[0]).ok()?,
        month,
        u8::try_from(digits[2]).ok()?,
    )
    .ok()?;
    let h = digits.get(3).copied().unwrap_or(0);
    let m = digits.get(4).copied().unwrap_or(0);
    let sec = digits.get(5).copied().unwrap_or(0);
    let base = date.midnight().assume_utc().unix_timestamp();
    Some(base + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(jira_time(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(iso_time(86_400 + 61), "1970-01-02T00:01:01.000Z");
        assert_eq!(parse_date("1970-01-02"), Some(86_400));
        assert_eq!(parse_date("1970/01/02 00:01"), Some(86_460));
        assert_eq!(parse_date("nonsense"), None);
        let c = SimClock::default();
        let a = c.now_secs();
        c.advance_secs(3700);
        assert!(c.now_secs() >= a + 3700);
    }
}

#[cfg(test)]
mod http_date_tests {
    #[test]
    fn imf_fixdate() {
        // 2026-12-06 is a Sunday.
        assert_eq!(
            super::http_date(1_796_515_200),
            "Sun, 06 Dec 2026 00:00:00 GMT"
        );
    }
}
