//! Conversations: isolated message histories of an agent, and their validation.
//!
//! A conversation is named by (org, agent, scope, conversation id): the same conversation id under
//! another scope or agent is another history. Messages are numbered from 1 in append order
//! (`seq`); the active window ([`crate::window`] in the context crate) is a view of the newest.

use crate::error::{Error, Result};
use crate::time::Timestamp;
use crate::types::{AgentRef, Metadata};
use crate::validate::{Limits, check_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "tool" => Some(Role::Tool),
            _ => None,
        }
    }

    /// The stored form (a small integer).
    pub fn code(self) -> i16 {
        match self {
            Role::System => 1,
            Role::User => 2,
            Role::Assistant => 3,
            Role::Tool => 4,
        }
    }

    pub fn from_code(code: i16) -> Option<Role> {
        match code {
            1 => Some(Role::System),
            2 => Some(Role::User),
            3 => Some(Role::Assistant),
            4 => Some(Role::Tool),
            _ => None,
        }
    }
}

/// A tool call of an assistant message: `arguments` is a JSON text (as models emit it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Which conversation: the agent (id or name), the scope (the end user it is about; empty is a
/// scope of its own) and the conversation id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversationRef {
    pub agent: AgentRef,
    pub scope: String,
    pub conversation: String,
}

/// A message to append, as a client sends it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewMessage {
    pub role: Option<Role>,
    pub content: String,
    pub name: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: String,
    /// None: the server's time.
    pub time: Option<Timestamp>,
    pub metadata: Metadata,
    /// The client's id of the message: a retried append with the same id stores it once.
    pub client_id: String,
}

/// A checked message with its token count (computed by the caller with the configured
/// tokenizer), ready for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMessage {
    pub role: Role,
    pub content: String,
    pub name: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub time: Timestamp,
    pub metadata: Metadata,
    pub client_id: Option<String>,
    pub tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `msg_` + 24 hex characters.
    pub id: String,
    /// Position in the conversation, from 1.
    pub seq: i64,
    pub role: Role,
    pub content: String,
    pub name: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub time: Timestamp,
    pub metadata: Metadata,
    pub client_id: Option<String>,
    pub tokens: u32,
    pub created_at: Timestamp,
}

/// A client-written summary of what fell out of the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub text: String,
    /// The newest message it covers (0: not said).
    pub through_seq: i64,
    pub tokens: u32,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub agent_id: String,
    pub scope: String,
    pub conversation: String,
    pub message_count: u64,
    pub token_total: u64,
    /// The `seq` of the newest message (0: none).
    pub last_seq: i64,
    pub created_at: Timestamp,
    pub last_activity_at: Timestamp,
    pub summary: Option<Summary>,
}

/// What an append did: the conversation after the append, and each
/// message as stored with whether it was new (false: a retry of a client id already stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The store's key of the conversation: never given to another (what caches key on).
    pub key: i64,
    pub conversation: Conversation,
    pub messages: Vec<(Message, bool)>,
    /// The agent's config as of the append (whether it records messages as memories).
    pub agent_config: crate::types::Metadata,
}

/// Largest window limits a request or an agent may set.
pub const MAX_WINDOW_MESSAGES: u32 = 10_000;
pub const DEFAULT_WINDOW_MESSAGES: u32 = 100;
pub const DEFAULT_WINDOW_TOKENS: u32 = 8_000;

impl Limits {
    /// The agent, scope and conversation id of a request (`prefix` locates them).
    pub fn check_conversation_ref(&self, prefix: &str, c: &ConversationRef) -> Result<()> {
        let at = |field: &str| if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") };
        if c.agent.as_str().is_empty() {
            return Err(Error::invalid(at("agent"), "is required (an agent id or name)"));
        }
        self.check_id(&at("conversation"), &c.conversation)?;
        if !c.scope.is_empty() {
            self.check_id(&at("scope"), &c.scope)?;
        }
        Ok(())
    }

    /// Checks a message and gives it its defaults (time: `now`); `tokens` is filled by the caller.
    pub fn check_new_message(&self, field: &str, m: NewMessage, now: Timestamp) -> Result<ValidMessage> {
        let at = |name: &str| format!("{field}.{name}");
        let role = m.role.ok_or_else(|| Error::invalid(at("role"), "is required (system, user, assistant or tool)"))?;
        // An assistant message that only calls tools may have no text.
        if !(role == Role::Assistant && !m.tool_calls.is_empty() && m.content.is_empty()) {
            self.check_content(&at("content"), &m.content)?;
        } else {
            check_text(&at("content"), &m.content)?;
        }
        if !m.tool_calls.is_empty() && role != Role::Assistant {
            return Err(Error::invalid(at("tool_calls"), "only an assistant message calls tools"));
        }
        let mut call_ids = std::collections::HashSet::new();
        for (i, call) in m.tool_calls.iter().enumerate() {
            let call_at = |name: &str| format!("{field}.tool_calls[{i}].{name}");
            self.check_id(&call_at("id"), &call.id)?;
            if !call_ids.insert(call.id.as_str()) {
                return Err(Error::invalid(call_at("id"), "repeats an earlier call's id"));
            }
            self.check_name(&call_at("name"), &call.name)?;
            if call.arguments.len() > self.max_content_bytes {
                return Err(Error::invalid(
                    call_at("arguments"),
                    format!("is {} bytes; at most {}", call.arguments.len(), self.max_content_bytes),
                ));
            }
            if !call.arguments.is_empty() && serde_json::from_str::<serde_json::Value>(&call.arguments).is_err() {
                return Err(Error::invalid(call_at("arguments"), "must be JSON text"));
            }
        }
        let tool_call_id = match (role, m.tool_call_id.is_empty()) {
            (Role::Tool, true) => {
                return Err(Error::invalid(at("tool_call_id"), "is required on a tool result (the call's id)"));
            }
            (Role::Tool, false) => {
                self.check_id(&at("tool_call_id"), &m.tool_call_id)?;
                Some(m.tool_call_id)
            }
            (_, true) => None,
            (_, false) => return Err(Error::invalid(at("tool_call_id"), "only a tool result answers a call")),
        };
        let name = if m.name.is_empty() {
            None
        } else {
            self.check_name(&at("name"), &m.name)?;
            Some(m.name)
        };
        let client_id = if m.client_id.is_empty() {
            None
        } else {
            self.check_id(&at("message_id"), &m.client_id)?;
            Some(m.client_id)
        };
        self.check_metadata(&at("metadata"), &m.metadata)?;
        Ok(ValidMessage {
            role,
            content: m.content,
            name,
            tool_calls: m.tool_calls,
            tool_call_id,
            time: m.time.unwrap_or(now),
            metadata: m.metadata,
            client_id,
            tokens: 0,
        })
    }

    /// A window limit: 0 means "not set here"; above the maximum is an error.
    pub fn window_limit(&self, field: &str, requested: u32, max: u32) -> Result<Option<u32>> {
        match requested {
            0 => Ok(None),
            n if n > max => Err(Error::invalid(field, format!("is {n}; at most {max}"))),
            n => Ok(Some(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: Role, content: &str) -> NewMessage {
        NewMessage { role: Some(role), content: content.into(), ..NewMessage::default() }
    }

    #[test]
    fn messages_are_checked_by_role() {
        let limits = Limits::default();
        let now = crate::time::now();
        let check = |m: NewMessage| limits.check_new_message("messages[0]", m, now);
        assert!(check(message(Role::User, "hi")).is_ok());
        let field = |r: Result<ValidMessage>| match r {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(check(NewMessage { content: "x".into(), ..NewMessage::default() })), "messages[0].role");
        assert_eq!(field(check(message(Role::User, " "))), "messages[0].content");
        assert_eq!(field(check(message(Role::Tool, "42"))), "messages[0].tool_call_id");
        let call = ToolCall { id: "c1".into(), name: "add".into(), arguments: "{\"a\": 1}".into() };
        let calls = NewMessage { tool_calls: vec![call.clone()], ..message(Role::User, "x") };
        assert_eq!(field(check(calls)), "messages[0].tool_calls");
        let only_calls = NewMessage { tool_calls: vec![call.clone()], ..message(Role::Assistant, "") };
        assert!(check(only_calls).is_ok(), "an assistant message that only calls tools has no text");
        let bad = ToolCall { arguments: "{oops".into(), ..call.clone() };
        let bad = NewMessage { tool_calls: vec![bad], ..message(Role::Assistant, "") };
        assert_eq!(field(check(bad)), "messages[0].tool_calls[0].arguments");
        let twice = NewMessage { tool_calls: vec![call.clone(), call], ..message(Role::Assistant, "") };
        assert_eq!(field(check(twice)), "messages[0].tool_calls[1].id");
        let answer = NewMessage { tool_call_id: "c1".into(), ..message(Role::User, "x") };
        assert_eq!(field(check(answer)), "messages[0].tool_call_id");
        let ok = check(NewMessage { tool_call_id: "c1".into(), ..message(Role::Tool, "3") }).unwrap();
        assert_eq!((ok.tool_call_id.as_deref(), ok.time), (Some("c1"), now));
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::System, Role::User, Role::Assistant, Role::Tool] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(Role::from_code(role.code()), Some(role));
        }
        assert_eq!(Role::parse("bot"), None);
    }
}
