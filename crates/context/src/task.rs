//! The "Current Task" section of a session's context, rendered from its working memory.
//!
//! Known keys, in this order (any other key is left out; values that are not text are shown as
//! compact JSON): `task`, `goal` (or `current_goal`), `subgoals` (a list: the stack, bottom
//! first), `scratchpad` (a list, or text split into lines: the last [`SCRATCHPAD_ENTRIES`]
//! entries), `variables` (an object: `name = value` pairs), `results` (a list, or an object of
//! named results: the last [`RESULT_ENTRIES`]). Each becomes one line.

use serde_json::Value;

use engram_core::Metadata;

/// Scratchpad entries and results shown (the newest).
pub const SCRATCHPAD_ENTRIES: usize = 5;
pub const RESULT_ENTRIES: usize = 5;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn last<T>(items: &[T], n: usize) -> &[T] {
    &items[items.len().saturating_sub(n)..]
}

/// The lines of the section (without the `- ` each gets), empty when the document has none of
/// the known keys.
pub fn task_lines(document: &Metadata) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(task) = document.get("task").filter(|v| !v.is_null()) {
        lines.push(format!("Task: {}", text(task)));
    }
    if let Some(goal) = document.get("goal").or_else(|| document.get("current_goal")).filter(|v| !v.is_null()) {
        lines.push(format!("Goal: {}", text(goal)));
    }
    match document.get("subgoals") {
        Some(Value::Array(items)) => lines.extend(items.iter().map(|s| format!("Subgoal: {}", text(s)))),
        Some(Value::Null) | None => {}
        Some(other) => lines.push(format!("Subgoals: {}", text(other))),
    }
    match document.get("scratchpad") {
        Some(Value::Array(items)) => {
            lines.extend(last(items, SCRATCHPAD_ENTRIES).iter().map(|s| format!("Scratchpad: {}", text(s))));
        }
        Some(Value::String(s)) => {
            let entries: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
            lines.extend(last(&entries, SCRATCHPAD_ENTRIES).iter().map(|l| format!("Scratchpad: {l}")));
        }
        Some(Value::Null) | None => {}
        Some(other) => lines.push(format!("Scratchpad: {}", text(other))),
    }
    match document.get("variables") {
        Some(Value::Object(vars)) if !vars.is_empty() => {
            let pairs: Vec<String> = vars.iter().map(|(k, v)| format!("{k} = {}", text(v))).collect();
            lines.push(format!("Variables: {}", pairs.join(", ")));
        }
        _ => {}
    }
    match document.get("results") {
        Some(Value::Array(items)) => {
            lines.extend(last(items, RESULT_ENTRIES).iter().map(|r| format!("Result: {}", text(r))));
        }
        Some(Value::Object(named)) => {
            let named: Vec<(&String, &Value)> = named.iter().collect();
            lines.extend(last(&named, RESULT_ENTRIES).iter().map(|(k, v)| format!("Result {k}: {}", text(v))));
        }
        Some(Value::Null) | None => {}
        Some(other) => lines.push(format!("Result: {}", text(other))),
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn known_keys_in_order_newest_entries_only() {
        let doc = json!({
            "results": ["r1", {"price": 420}],
            "variables": {"city": "Paris", "budget": 500},
            "scratchpad": ["n1", "n2", "n3", "n4", "n5", "n6"],
            "subgoals": ["find dates", "compare prices"],
            "goal": "cheapest fare",
            "task": "book a flight",
            "unrelated": "hidden",
        });
        let Value::Object(doc) = doc else { unreachable!() };
        assert_eq!(
            task_lines(&doc),
            [
                "Task: book a flight",
                "Goal: cheapest fare",
                "Subgoal: find dates",
                "Subgoal: compare prices",
                "Scratchpad: n2",
                "Scratchpad: n3",
                "Scratchpad: n4",
                "Scratchpad: n5",
                "Scratchpad: n6",
                "Variables: budget = 500, city = Paris",
                "Result: r1",
                "Result: {\"price\":420}",
            ]
        );
        assert!(task_lines(&Metadata::new()).is_empty());
        let Value::Object(text_pad) = json!({"scratchpad": "a\n\nb"}) else { unreachable!() };
        assert_eq!(task_lines(&text_pad), ["Scratchpad: a", "Scratchpad: b"]);
    }
}
