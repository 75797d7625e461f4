//! Time specs (`45s` … `2w` ago, RFC 3339) as `since`/`until`, durations, and the absolute times
//! of REST bodies (`time`, `expires_at`).
#![no_main]

use chrono::Duration;
use engram_core::time::{format_rfc3339, from_micros, parse_duration, parse_spec, to_micros};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    // The same bytes as a gRPC Timestamp (seconds, nanos): an accepted one reads back too.
    if let Some(raw) = data.get(..12) {
        let seconds = i64::from_le_bytes(raw[..8].try_into().unwrap());
        let nanos = i32::from_le_bytes(raw[8..].try_into().unwrap());
        let pb = prost_types::Timestamp { seconds, nanos };
        match engram_server::grpc::convert::from_timestamp("time", Some(pb)) {
            Ok(Some(t)) => {
                let text = format_rfc3339(t);
                assert_eq!(parse_spec("time", &text, t), Ok(Some(t)), "{seconds}s {nanos}ns returned as {text:?}");
            }
            Ok(None) => unreachable!(),
            Err(e) => common::assert_invalid_argument(&e, "timestamp"),
        }
    }
    let Ok(spec) = std::str::from_utf8(data) else { return };
    let now = engram_server::fuzzing::now();
    match parse_spec("since", spec, now) {
        Ok(None) => assert!(spec.trim().is_empty(), "{spec:?} read as unset"),
        Ok(Some(t)) => {
            assert!(!spec.trim().is_empty());
            // Microsecond precision, and the stored form gives it back.
            assert_eq!(t.timestamp_subsec_nanos() % 1_000, 0, "{spec:?} kept nanoseconds");
            assert_eq!(from_micros(to_micros(t)), t, "{spec:?}: micros round trip");
            if let Ok(d) = parse_duration("d", spec) {
                // A relative spec is that long ago, within the documented bound.
                assert!(d >= Duration::zero(), "{spec:?}: negative duration");
                assert!(d <= Duration::days(10_000 * 366), "{spec:?}: beyond ten thousand years");
                assert_eq!(t, now - d, "{spec:?}: since and duration disagree");
            }
        }
        Err(e) => common::assert_invalid_argument(&e, spec),
    }
    match parse_duration("ttl", spec) {
        Ok(d) => assert!(d >= Duration::zero()),
        Err(e) => common::assert_invalid_argument(&e, spec),
    }
    // An absolute time a REST body gives (`time`, `expires_at`, a message's `time`) is stored and
    // returned as RFC 3339 text: what the server accepts, it must be able to give back.
    match engram_server::rest::json::timestamp("time", Some(spec)) {
        Ok(None) => assert!(spec.trim().is_empty()),
        Ok(Some(t)) => {
            let text = format_rfc3339(t);
            let back = parse_spec("time", &text, now);
            assert_eq!(back, Ok(Some(t)), "{spec:?} accepted, returned as {text:?}, which does not read back");
        }
        Err(e) => common::assert_invalid_argument(&e, spec),
    }
});
