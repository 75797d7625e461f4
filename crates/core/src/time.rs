//! Time specs: `since`/`until` as relative durations (`45s`, `90m`, `2h`, `7d`, `2w` ago) or
//! RFC 3339 timestamps. Times are kept with microsecond precision.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::error::{Error, Result};

pub type Timestamp = DateTime<Utc>;

/// Now, truncated to microseconds (what every store keeps).
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// Parses a time spec given in `field`. Empty means "not set".
pub fn parse_spec(field: &str, spec: &str, now: Timestamp) -> Result<Option<Timestamp>> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(None);
    }
    if let Some(ago) = parse_relative(spec) {
        let ago = ago.ok_or_else(|| Error::invalid(field, "relative time is too large"))?;
        return Ok(Some(now - ago));
    }
    match DateTime::parse_from_rfc3339(spec) {
        // Through microseconds (the stored precision): a leap second (`23:59:60`) becomes the
        // instant after it, as chrono counts it, so what is returned reads back as itself.
        Ok(t) => Ok(Some(from_micros(t.timestamp_micros()))),
        Err(_) => Err(Error::invalid(
            field,
            format!("{spec:?} is not a time: use a duration ago like 45s, 90m, 2h, 7d, 2w or an RFC 3339 timestamp"),
        )),
    }
}

/// The earliest and latest instants a client may give as an absolute time of a stored field
/// (a memory's `time` and `expires_at`, a message's `time`): 1970-01-01T00:00:00Z through
/// 9999-12-31T23:59:59.999999Z, the range gRPC `Timestamp`s are held to and what RFC 3339 text
/// in UTC (every response's form) can express.
pub const MIN_STORED_MICROS: i64 = 0;
pub const MAX_STORED_MICROS: i64 = 253_402_300_799_999_999;

/// An absolute RFC 3339 time given in `field` for a stored field, truncated to microseconds; see
/// [`MAX_STORED_MICROS`].
pub fn parse_timestamp(field: &str, text: &str) -> Result<Timestamp> {
    let t = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|_| Error::invalid(field, format!("{text:?} is not an RFC 3339 time")))?;
    let us = t.timestamp_micros();
    if !(MIN_STORED_MICROS..=MAX_STORED_MICROS).contains(&us) {
        return Err(Error::invalid(field, format!("{text:?} is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59Z")));
    }
    Ok(from_micros(us))
}

/// A duration written like a relative spec (`45s`, `90m`, `2h`, `7d`, `2w`; `0s` allowed), given in
/// `field`.
pub fn parse_duration(field: &str, spec: &str) -> Result<Duration> {
    match parse_relative(spec.trim()) {
        Some(Some(d)) => Ok(d),
        Some(None) => Err(Error::invalid(field, "duration is too large")),
        None => Err(Error::invalid(field, format!("{spec:?} is not a duration: use 45s, 90m, 2h, 7d or 2w"))),
    }
}

/// `Some(None)` when the spec has the relative form but overflows.
fn parse_relative(spec: &str) -> Option<Option<Duration>> {
    let unit = spec.chars().last()?;
    let digits = &spec[..spec.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds_per_unit: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    // Ten thousand years is plenty and keeps every later computation in range.
    const MAX_SECONDS: i64 = 10_000 * 366 * 86_400;
    let amount = digits.parse::<i64>().ok();
    Some(amount.and_then(|n| n.checked_mul(seconds_per_unit)).filter(|s| *s <= MAX_SECONDS).map(Duration::seconds))
}

/// Microseconds since the Unix epoch (the stored form).
pub fn to_micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> Timestamp {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC with exactly 6 fractional digits, e.g. `2026-02-08T12:00:00.123456Z`.
pub fn format_rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at() -> Timestamp {
        parse_spec("t", "2026-02-08T12:00:00Z", now()).unwrap().unwrap()
    }

    #[test]
    fn relative_units() {
        let now = at();
        for (spec, secs) in [("45s", 45), ("90m", 5_400), ("2h", 7_200), ("7d", 604_800), ("2w", 1_209_600)] {
            assert_eq!(parse_spec("since", spec, now).unwrap(), Some(now - Duration::seconds(secs)));
        }
    }

    #[test]
    fn rfc3339_with_offset_becomes_utc() {
        let t = parse_spec("since", "2026-02-08T13:00:00.1234567+01:00", now()).unwrap().unwrap();
        assert_eq!(format_rfc3339(t), "2026-02-08T12:00:00.123456Z");
    }

    #[test]
    fn bad_specs_name_the_field() {
        for spec in ["yesterday", "5y", "h", "-5h", "1.5h", "99999999999999999999d", "2026-13-01"] {
            let err = parse_spec("until", spec, now()).unwrap_err();
            assert!(matches!(&err, Error::InvalidArgument { field, .. } if field == "until"), "{spec}: {err}");
        }
    }

    /// Found by the `time_spec` fuzz target: a REST body's time whose UTC instant falls outside
    /// years 0000..=9999 was accepted, then returned as `-0001-12-31T23:00:00.000000Z`, text no
    /// RFC 3339 reader (nor Engram itself) accepts.
    /// Found by the `time_spec` fuzz target: `9999-12-31T23:59:60.999999Z` was accepted as a
    /// chrono leap second that did not survive the trip through microseconds.
    #[test]
    fn a_leap_second_reads_back_as_itself() {
        let t = parse_spec("since", "2026-06-30T23:59:60.5Z", now()).unwrap().unwrap();
        assert_eq!(format_rfc3339(t), "2026-07-01T00:00:00.500000Z");
        assert_eq!(from_micros(to_micros(t)), t);
        let last = parse_spec("since", "9999-12-31T23:59:60.999999Z", now()).unwrap().unwrap();
        assert_eq!(from_micros(to_micros(last)), last);
        assert!(parse_timestamp("time", "9999-12-31T23:59:60.999999Z").is_err(), "past the stored range");
    }

    #[test]
    fn stored_times_stay_within_rfc_3339_years() {
        for text in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00", "1969-12-31T23:59:59Z"] {
            let err = parse_timestamp("time", text).unwrap_err();
            assert!(matches!(&err, Error::InvalidArgument { field, .. } if field == "time"), "{text}: {err}");
        }
        for text in ["1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", " 2026-02-08T13:00:00.1234567+01:00 "] {
            let t = parse_timestamp("time", text).unwrap();
            assert_eq!(parse_spec("time", &format_rfc3339(t), now()).unwrap(), Some(t), "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_spec("since", &s, now());
        }

        #[test]
        fn any_count_of_any_unit(n in 0u32..100_000, unit in prop::sample::select(vec!['s', 'm', 'h', 'd', 'w'])) {
            let spec = format!("{n}{unit}");
            prop_assert!(parse_spec("since", &spec, now()).unwrap().is_some());
        }
    }
}
