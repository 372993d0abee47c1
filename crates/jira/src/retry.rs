//! Pure retry decisions: how long a 429 asks us to wait, backoff with jitter, which methods
//! are safe to repeat.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use rand::Rng as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Methods that may be repeated after a 5xx or a lost connection without duplicating effects.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Server errors worth retrying (not "not implemented" or "version not supported").
pub(crate) fn is_retryable_server_error(status: StatusCode) -> bool {
    status.is_server_error()
        && status != StatusCode::NOT_IMPLEMENTED
        && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED
}

/// The minimum wait a rate-limited answer demands: `Retry-After` (seconds, or an HTTP date)
/// when Jira sends it — a relative wait, immune to clock skew between us and Jira — else the
/// time until `X-RateLimit-Reset` (an absolute ISO 8601 instant, read against our clock).
/// `None` if neither is usable.
pub(crate) fn rate_limit_wait(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    // Absolute instants are read against the server's own clock when it says what time it is
    // (`Date`), so a skewed local clock cannot stretch or shrink the wait.
    let now = headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .unwrap_or(now);
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| OffsetDateTime::parse(v.trim(), &Rfc3339).ok())
        .map(|at| positive_until(now, at));
    retry_after.or(reset)
}

fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Fractional seconds are not in the RFC but cost nothing to honour.
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        // Huge values do not fit a Duration: treat them as unparseable, never panic.
        return Duration::try_from_secs_f64(secs).ok();
    }
    Some(positive_until(now, parse_http_date(value)?))
}

/// An IMF-fixdate (`Sun, 06 Dec 2026 17:55:00 GMT`).
fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let http_date = time::format_description::parse_borrowed::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let at = time::PrimitiveDateTime::parse(value.trim(), &http_date).ok()?;
    Some(at.assume_utc())
}

fn positive_until(now: OffsetDateTime, at: OffsetDateTime) -> Duration {
    let delta = at - now;
    if delta.is_positive() {
        // Round up to whole milliseconds so we never wake before the reset instant.
        Duration::from_millis(delta.whole_milliseconds().unsigned_abs() as u64 + 1)
    } else {
        Duration::ZERO
    }
}

/// Exponential backoff with jitter: a random point in [d/2, d] where d = base * 2^attempt,
/// capped at `cap`.
pub(crate) fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
    let full = base.saturating_mul(factor).min(cap);
    let half = full / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
    half + Duration::from_millis(jitter_ms).min(full - half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use time::macros::datetime;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_wins_over_reset_which_is_the_fallback() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(
            rate_limit_wait(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        let w = rate_limit_wait(
            &headers(&[
                ("retry-after", "1"),
                ("x-ratelimit-reset", "2026-01-01T00:00:05Z"),
            ]),
            now,
        )
        .unwrap();
        // A reset far from Retry-After means the clocks disagree: the relative wait is trusted.
        assert_eq!(w, Duration::from_secs(1));
        // The server's `Date` is "now" for its absolute instants: 5 s after its clock, whatever
        // ours says.
        let w = rate_limit_wait(
            &headers(&[
                ("date", "Thu, 01 Jan 2026 01:00:00 GMT"),
                ("x-ratelimit-reset", "2026-01-01T01:00:05Z"),
            ]),
            now,
        )
        .unwrap();
        assert!(
            w >= Duration::from_secs(5) && w < Duration::from_secs(6),
            "{w:?}"
        );
        let w = rate_limit_wait(
            &headers(&[("x-ratelimit-reset", "2026-01-01T00:00:05Z")]),
            now,
        )
        .unwrap();
        assert!(
            w >= Duration::from_secs(5) && w < Duration::from_secs(6),
            "{w:?}"
        );
        assert_eq!(
            rate_limit_wait(
                &headers(&[("x-ratelimit-reset", "2025-12-31T00:00:00Z")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            rate_limit_wait(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(rate_limit_wait(&HeaderMap::new(), now), None);
    }

    #[test]
    fn retry_after_http_date() {
        let now = datetime!(2015-10-21 07:28:00 UTC);
        let w = rate_limit_wait(
            &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:10 GMT")]),
            now,
        );
        assert!(w.unwrap() >= Duration::from_secs(10));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..30 {
            let d = backoff(base, attempt, cap);
            let full = base.saturating_mul(1 << attempt.min(20)).min(cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn only_idempotent_methods_retry() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
        assert!(is_retryable_server_error(StatusCode::BAD_GATEWAY));
        assert!(!is_retryable_server_error(StatusCode::NOT_IMPLEMENTED));
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by fuzz/fuzz_targets/jira_rate_limit_headers.rs: these used to panic.
    #[test]
    fn enormous_retry_after_values_do_not_panic() {
        let now = OffsetDateTime::now_utc();
        for v in [
            "18446744073709551616",
            "1e20",
            "1e400",
            "18446744073709551615",
            "NaN",
            "-1",
        ] {
            let _ = parse_retry_after(v, now);
        }
        assert_eq!(parse_retry_after("1e20", now), None);
    }
}
