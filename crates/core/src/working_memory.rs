//! Working memory: one JSON document per session (task, goal, subgoals, scratchpad, variables,
//! results), written with optimistic concurrency, and RFC 7396 merge patches.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::time::Timestamp;
use crate::types::Metadata;
use crate::validate::Limits;

/// Largest working-memory document, as JSON.
pub const MAX_WORKING_MEMORY_BYTES: usize = 256 * 1024;

/// A session's working memory. A session that never had one reads as an empty document at
/// version 0; every write adds one to the version.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingMemory {
    pub session_id: String,
    pub document: Metadata,
    pub version: i64,
    /// None: never written (or cleared).
    pub updated_at: Option<Timestamp>,
}

/// Applies an RFC 7396 JSON merge patch: an object patch merges key by key (a `null` value
/// removes the key), anything else replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Metadata::new());
    }
    let Value::Object(doc) = target else { return };
    for (key, value) in changes {
        if value.is_null() {
            doc.remove(key);
        } else {
            merge_patch(doc.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

impl Limits {
    /// A working-memory document: an object of at most [`MAX_WORKING_MEMORY_BYTES`] as JSON,
    /// nested at most [`crate::validate::MAX_JSON_DEPTH`] levels, without NUL characters.
    pub fn check_working_memory(&self, field: &str, document: &Metadata) -> Result<()> {
        Limits { max_metadata_bytes: MAX_WORKING_MEMORY_BYTES, ..self.clone() }.check_metadata(field, document)
    }

    /// The version a write read (`field`): 0 (never written) or more.
    pub fn check_version(&self, field: &str, version: i64) -> Result<()> {
        if version < 0 {
            return Err(Error::invalid(field, format!("is {version}; versions start at 0 (never written)")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The RFC's appendix A examples.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, want) in cases {
            let mut doc = target.clone();
            merge_patch(&mut doc, &patch);
            assert_eq!(doc, want, "{target} + {patch}");
        }
    }

    /// fuzz/merge_patch's crash in CI: `1` and 61 zeros (1e61, too long for an integer) was parsed
    /// one ulp off (1.0000000000000001e61) and written as such, which reads back as 1e61, so a
    /// stored document changed on its way back. The workspace builds serde_json with
    /// `float_roundtrip`: every number parses to its nearest f64, as the standard library's does.
    #[test]
    fn numbers_read_back_as_they_were_written() {
        let long = format!("1{}", "0".repeat(61));
        for text in [long.as_str(), "1e61", "0.1", "3.141592653589793", "5e-324", "1.7976931348623157e308", "-0.0"] {
            let want: f64 = text.parse().expect("a valid float");
            let patch: Value = serde_json::from_str(&format!("{{\"n\": {text}}}")).expect("valid JSON");
            let mut doc = json!({"n": "before"});
            merge_patch(&mut doc, &patch);
            let stored = serde_json::to_string(&doc).expect("serializes");
            let back: Value = serde_json::from_str(&stored).expect("reads back");
            assert_eq!(back, doc, "{text} stored as {stored}");
            assert_eq!(back["n"].as_f64().map(f64::to_bits), Some(want.to_bits()), "{text} stored as {stored}");
        }
    }

    #[test]
    fn documents_are_bounded() {
        let limits = Limits::default();
        let mut doc = Metadata::new();
        doc.insert("scratchpad".into(), Value::String("x".repeat(MAX_WORKING_MEMORY_BYTES)));
        let Err(Error::InvalidArgument { field, rule }) = limits.check_working_memory("document", &doc) else {
            panic!("over-size accepted")
        };
        assert_eq!(field, "document");
        assert!(rule.contains("at most 262144"), "{rule}");
        doc.insert("scratchpad".into(), Value::String("x".repeat(20_000)));
        assert!(limits.check_working_memory("document", &doc).is_ok(), "larger than metadata, within its own bound");
        assert!(limits.check_version("version", -1).is_err());
    }
}
