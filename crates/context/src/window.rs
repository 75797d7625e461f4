//! The active window of a conversation: which of its newest messages the next model call sees.
//!
//! Rules (README "Conversations"):
//! - at most `max_messages` messages and `max_tokens` tokens (each message's stored count);
//! - system messages are pinned: always in the window, and counted against both limits first;
//! - the other messages are taken newest first and the oldest are dropped first (FIFO): the
//!   first that does not fit ends the window, everything older stays out;
//! - an assistant message that calls tools and the tool results that answer it are one unit,
//!   taken whole or not at all, so a result never appears without its call nor the reverse; a
//!   tool result whose call is not in the conversation (an orphan) is never shown.
//!
//! The caller passes every system message and the newest `max_messages` others, in `seq`
//! order: a unit that reaches further back could not fit anyway.

use std::collections::HashMap;

use engram_core::conversation::{Message, Role};

/// The messages in the window (indexes into the input, in `seq` order) and their tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Window {
    pub kept: Vec<usize>,
    pub tokens: u64,
}

/// The window of `messages` (see the module's rules).
pub fn window(messages: &[Message], max_messages: u32, max_tokens: u32) -> Window {
    let (max_messages, max_tokens) = (max_messages as usize, u64::from(max_tokens));
    let mut kept = vec![false; messages.len()];
    let (mut count, mut tokens) = (0usize, 0u64);
    for (i, m) in messages.iter().enumerate() {
        if m.role == Role::System {
            kept[i] = true;
            count += 1;
            tokens += u64::from(m.tokens);
        }
    }
    // The assistant message that made each tool call, and each such message's results.
    let mut caller: HashMap<&str, usize> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        for call in &m.tool_calls {
            caller.insert(call.id.as_str(), i);
        }
    }
    let mut results: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        if let Some(c) = m.tool_call_id.as_deref().and_then(|id| caller.get(id)).filter(|c| **c < i) {
            results.entry(*c).or_default().push(i);
        }
    }
    let mut seen = vec![false; messages.len()];
    for i in (0..messages.len()).rev() {
        let m = &messages[i];
        if seen[i] || m.role == Role::System {
            continue;
        }
        let head = match m.tool_call_id.as_deref() {
            Some(id) if m.role == Role::Tool => match caller.get(id).filter(|c| **c < i) {
                Some(c) => *c,
                None => {
                    seen[i] = true; // an orphan result: never shown
                    continue;
                }
            },
            _ => i,
        };
        let mut unit = vec![head];
        unit.extend(results.get(&head).into_iter().flatten().copied());
        let unit_tokens: u64 = unit.iter().map(|u| u64::from(messages[*u].tokens)).sum();
        if count + unit.len() > max_messages || tokens + unit_tokens > max_tokens {
            break;
        }
        count += unit.len();
        tokens += unit_tokens;
        for u in unit {
            seen[u] = true;
            kept[u] = true;
        }
    }
    Window { kept: (0..messages.len()).filter(|i| kept[*i]).collect(), tokens }
}

#[cfg(test)]
mod tests {
    use engram_core::conversation::ToolCall;
    use proptest::prelude::*;

    use super::*;

    fn message(seq: i64, role: Role, tokens: u32) -> Message {
        let now = engram_core::time::now();
        Message {
            id: format!("msg_{seq}"),
            seq,
            role,
            content: String::new(),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            time: now,
            metadata: Default::default(),
            client_id: None,
            tokens,
            created_at: now,
        }
    }

    /// A history from a script: 's', 'u', 'a' (plain), 'c' (an assistant call of n results
    /// that follow as 't'), 'o' (an orphan tool result).
    fn history(script: &[(char, u32)]) -> Vec<Message> {
        let mut out: Vec<Message> = Vec::new();
        let mut open: Vec<String> = Vec::new();
        for (i, (kind, tokens)) in script.iter().enumerate() {
            let seq = i as i64 + 1;
            let mut m = message(seq, Role::User, *tokens);
            match kind {
                's' => m.role = Role::System,
                'a' => m.role = Role::Assistant,
                'c' => {
                    m.role = Role::Assistant;
                    let id = format!("call_{seq}");
                    m.tool_calls.push(ToolCall { id: id.clone(), name: "f".into(), arguments: "{}".into() });
                    open.push(id);
                }
                't' => {
                    m.role = Role::Tool;
                    m.tool_call_id = Some(open.pop().unwrap_or_else(|| "nowhere".into()));
                }
                'o' => {
                    m.role = Role::Tool;
                    m.tool_call_id = Some("never_called".into());
                }
                _ => {}
            }
            out.push(m);
        }
        out
    }

    fn seqs(messages: &[Message], w: &Window) -> Vec<i64> {
        w.kept.iter().map(|i| messages[*i].seq).collect()
    }

    #[test]
    fn newest_first_system_pinned_and_pairs_whole() {
        let h = history(&[('s', 5), ('u', 10), ('a', 10), ('u', 10), ('c', 10), ('t', 10), ('u', 10)]);
        assert_eq!(seqs(&h, &window(&h, 100, 1_000)), [1, 2, 3, 4, 5, 6, 7]);
        // Three messages: the system one and the two newest that fit as units (the call and
        // its result do not fit in one place, so they and everything older are out).
        assert_eq!(seqs(&h, &window(&h, 3, 1_000)), [1, 7]);
        assert_eq!(seqs(&h, &window(&h, 4, 1_000)), [1, 5, 6, 7]);
        assert_eq!(seqs(&h, &window(&h, 100, 25)), [1, 7]);
        assert_eq!(window(&h, 100, 25).tokens, 15);
        // System messages stay even over the limits.
        assert_eq!(seqs(&h, &window(&h, 1, 1)), [1]);
        // An orphan result is never shown; what is older still is.
        let h = history(&[('u', 1), ('o', 1), ('a', 1)]);
        assert_eq!(seqs(&h, &window(&h, 100, 100)), [1, 3]);
    }

    fn scripts() -> impl Strategy<Value = Vec<(char, u32)>> {
        // Units: a plain message, or a call followed by its result.
        let unit = prop_oneof![
            (Just('u'), 0u32..50).prop_map(|m| vec![m]),
            (Just('a'), 0u32..50).prop_map(|m| vec![m]),
            ((0u32..50), (0u32..50)).prop_map(|(a, b)| vec![('c', a), ('t', b)]),
            (Just('s'), 0u32..5).prop_map(|m| vec![m]),
        ];
        proptest::collection::vec(unit, 0..40).prop_map(|units| units.into_iter().flatten().collect())
    }

    proptest! {
        #[test]
        fn window_rules_hold(script in scripts(), max_messages in 1u32..30, max_tokens in 1u32..600) {
            let h = history(&script);
            let w = window(&h, max_messages, max_tokens);
            let system: Vec<usize> = (0..h.len()).filter(|i| h[*i].role == Role::System).collect();
            let system_tokens: u64 = system.iter().map(|i| u64::from(h[*i].tokens)).sum();
            // Pinned: every system message is in.
            prop_assert!(system.iter().all(|i| w.kept.contains(i)));
            // Tokens are the kept messages' own.
            prop_assert_eq!(w.tokens, w.kept.iter().map(|i| u64::from(h[*i].tokens)).sum::<u64>());
            // Within both limits whenever the system messages are.
            if system.len() <= max_messages as usize && system_tokens <= u64::from(max_tokens) {
                prop_assert!(w.kept.len() <= max_messages as usize);
                prop_assert!(w.tokens <= u64::from(max_tokens));
            }
            // FIFO: the kept others are a suffix of the others.
            let others: Vec<usize> = (0..h.len()).filter(|i| h[*i].role != Role::System).collect();
            let kept_others: Vec<usize> = w.kept.iter().copied().filter(|i| h[*i].role != Role::System).collect();
            prop_assert_eq!(&others[others.len() - kept_others.len()..], &kept_others[..]);
            // Pairs whole: a call is kept exactly when its result is.
            for (i, m) in h.iter().enumerate() {
                if m.role == Role::Tool {
                    prop_assert_eq!(w.kept.contains(&i), w.kept.contains(&(i - 1)));
                }
            }
        }
    }
}
