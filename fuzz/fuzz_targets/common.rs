//! What the targets share: the shape of a refusal.

use engram_core::Error;

/// A domain refusal must be InvalidArgument naming a field, with a rule.
#[allow(dead_code)]
pub fn assert_invalid_argument(err: &Error, what: &str) {
    match err {
        Error::InvalidArgument { field, rule } => {
            assert!(!field.is_empty(), "{what}: a refusal names no field: {err}");
            assert!(!rule.is_empty(), "{what}: a refusal gives no rule: {err}");
        }
        other => panic!("{what}: bad input must be InvalidArgument, got {other:?}"),
    }
}

/// A refusal of a request: HTTP 400 (REST) or INVALID_ARGUMENT (3, gRPC), `field: rule`.
#[allow(dead_code)]
pub fn assert_client_error(refused: &engram_server::fuzzing::Refused, code: u16, what: &str) {
    assert_eq!(refused.code, code, "{what}: refused with {} ({}), not {code}", refused.code, refused.message);
    assert!(
        refused.message.contains(": ") || refused.message.starts_with("request"),
        "{what}: {:?} names no field",
        refused.message
    );
}
