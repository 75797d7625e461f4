//! RFC 7396 merge patch (`engram_core::working_memory::merge_patch`) and the working-memory
//! checks around it. The input is a target and a patch, two JSON texts separated by a 0xFF byte
//! (never in UTF-8), or, when the first byte is 0xFE, a nesting depth for a programmatically deep
//! document. Checks: applying a patch twice equals applying it once; the result is valid JSON
//! that reads back equal; an object patch removes its `null` keys and sets its other scalar keys;
//! a non-object patch replaces the target; a merge is no deeper than the deeper of its inputs; no
//! panic on deep nesting; and the working-memory path (`engram_server::fuzzing`) refuses what
//! breaks the documented limits (24 levels, 256 KiB) with an error naming the field.
#![no_main]

use engram_core::Limits;
use engram_core::working_memory::merge_patch;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

mod common;

/// `{"a": {"a": … }}` `depth` levels deep (iterative, so any depth can be built).
fn nested(depth: usize, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        let mut m = Map::new();
        m.insert("a".into(), v);
        v = Value::Object(m);
    }
    v
}

/// Drops a value without recursion (a deep one would exhaust the stack on drop).
fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
}

fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0)];
    while let Some((v, level)) = stack.pop() {
        match v {
            Value::Object(m) => {
                deepest = deepest.max(level + 1);
                stack.extend(m.values().map(|v| (v, level + 1)));
            }
            Value::Array(a) => {
                deepest = deepest.max(level + 1);
                stack.extend(a.iter().map(|v| (v, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

fn check(target: &Value, patch: &Value) {
    let mut once = target.clone();
    merge_patch(&mut once, patch);
    let mut twice = once.clone();
    merge_patch(&mut twice, patch);
    assert_eq!(once, twice, "a patch applied twice differs from once");
    let text = serde_json::to_string(&once).expect("the result serializes");
    // serde_json reads at most 128 levels; deeper results are checked by structure only.
    if depth(&once) < 128 {
        let back: Value = serde_json::from_str(&text).expect("the result is valid JSON");
        assert_eq!(back, once, "the result does not read back equal");
    }
    match patch {
        Value::Object(changes) => {
            let Value::Object(result) = &once else { panic!("an object patch gave a non-object") };
            for (k, v) in changes {
                match v {
                    Value::Null => assert!(!result.contains_key(k), "{k:?} set to null is still there"),
                    Value::Object(_) => assert!(result[k].is_object()),
                    other => assert_eq!(&result[k], other, "{k:?} not set"),
                }
            }
            let before = if target.is_object() { depth(target) } else { 1 };
            assert!(depth(&once) <= before.max(depth(patch)), "the merge is deeper than its inputs");
        }
        other => assert_eq!(&once, other, "a non-object patch must replace the target"),
    }
    dismantle(once);
    dismantle(twice);
}

fuzz_target!(|data: &[u8]| {
    if let [0xFE, hi, lo, rest @ ..] = data {
        // Deep nesting, beyond what any decoder hands the server.
        let levels = usize::from(u16::from_be_bytes([*hi, *lo]) % 5_000);
        let leaf = serde_json::from_slice(rest).unwrap_or(Value::Null);
        let patch = nested(levels, leaf);
        let target = nested(levels / 2, Value::from(1));
        check(&target, &patch);
        if let Value::Object(map) = &patch {
            let limits = Limits::default();
            let result = engram_server::fuzzing::check_working_memory(&limits, &Map::new(), None, Some(map.clone()), 0);
            match result {
                Ok(doc) => {
                    assert!(levels <= engram_core::validate::MAX_JSON_DEPTH, "{levels} levels accepted");
                    dismantle(Value::Object(doc));
                }
                Err(e) => common::assert_invalid_argument(&e, "deep patch"),
            }
        }
        dismantle(target);
        dismantle(patch);
        return;
    }
    let (target, patch) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"{}"[..], data),
    };
    let (Ok(target), Ok(patch)) = (serde_json::from_slice::<Value>(target), serde_json::from_slice::<Value>(patch))
    else {
        return;
    };
    check(&target, &patch);
    // The working-memory path: a PATCH body's object on a stored document.
    if let (Value::Object(current), Value::Object(patch)) = (&target, &patch) {
        let limits = Limits::default();
        if limits.check_working_memory("document", current).is_ok() {
            match engram_server::fuzzing::check_working_memory(&limits, current, None, Some(patch.clone()), 1) {
                Ok(doc) => assert!(limits.check_working_memory("document", &doc).is_ok()),
                Err(e) => common::assert_invalid_argument(&e, "patch"),
            }
        }
    }
});
