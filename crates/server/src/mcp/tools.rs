//! The MCP tools: each one is a call of the REST surface (`/api/v1`), so it runs one domain
//! operation with the REST surface's validation, auth and JSON. Its input schema and description
//! are written for a model using the tool unaided; arguments it does not know are refused (a
//! model's typo is never silently dropped).

use axum::http::Method;
use serde_json::{Map, Value, json};

/// One REST request a tool call becomes: `path` includes its query string.
#[derive(Debug, Clone, PartialEq)]
pub struct RestCall {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

/// A tool: its name, what it does, and the JSON schema of its arguments.
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: Value,
}

const AGENT: &str = "The agent's id (agt_...) or its name; a name not seen before registers the agent.";
const TIME_SPEC: &str = "A time: relative (45s, 90m, 2h, 7d, 2w; meaning that long ago) or RFC 3339.";
const MEMORY_TYPES: &str = "Memory types: episodic, session, decision, entity, semantic, state, action, interaction. Without \
     this filter, the first four.";

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

fn integer(description: &str, minimum: i64) -> Value {
    json!({"type": "integer", "minimum": minimum, "description": description})
}

fn object_schema(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// Every tool Engram offers over MCP (built once).
pub fn specs() -> &'static [ToolSpec] {
    static SPECS: std::sync::LazyLock<Vec<ToolSpec>> = std::sync::LazyLock::new(build_specs);
    &SPECS
}

fn build_specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "remember",
            description: "Store a memory of something the agent did, observed or was told. Returns the stored memory \
                          with its id. A memory with the same dedup_key as a live one is stored once.",
            schema: object_schema(
                json!({
                    "agent": string(AGENT),
                    "content": string("What to remember, as plain text (what happened, with its specifics)."),
                    "session_id": string("The session (ses_...) this happened in, if any."),
                    "tags": strings("Short labels to filter by later (letters, digits and _.:/=@+-; at most 32)."),
                    "importance": {"type": "number", "minimum": 0, "maximum": 1,
                                   "description": "0 to 1; default 0.5. Important memories are kept and ranked first."},
                    "metadata": {"type": "object", "description": "Structured details (a JSON object)."},
                    "event_type": string("A free label of the kind of event, e.g. action, observation, error."),
                    "memory_type": string("episodic (default), session, decision, entity, semantic, state, action or interaction."),
                    "dedup_key": string("A key that identifies this memory: storing it again is a no-op."),
                    "scope": string("The end user this memory is about, to keep users' memories apart."),
                }),
                &["agent", "content"],
            ),
        },
        ToolSpec {
            name: "decide",
            description: "Record a decision the agent made and why, so it will not contradict itself later. Returns \
                          the stored decision memory.",
            schema: object_schema(
                json!({
                    "agent": string(AGENT),
                    "decision": string("What was decided."),
                    "reasoning": string("Why: the facts and trade-offs behind the decision."),
                    "session_id": string("The session (ses_...) it was made in, if any."),
                    "tags": strings("Short labels to filter by later."),
                    "importance": {"type": "number", "minimum": 0, "maximum": 1,
                                   "description": "0 to 1; default 0.5."},
                    "metadata": {"type": "object", "description": "Structured details (a JSON object)."},
                }),
                &["agent", "decision", "reasoning"],
            ),
        },
        ToolSpec {
            name: "recall",
            description: "List an agent's memories in a time window, newest first: what it did, decided and \
                          observed. Use `since` to look back (default the last 24 hours).",
            schema: object_schema(
                json!({
                    "agent": string(AGENT),
                    "since": string(&format!("{TIME_SPEC} Default 24h.")),
                    "until": string(TIME_SPEC),
                    "session_id": string("Only this session's memories."),
                    "memory_types": strings(MEMORY_TYPES),
                    "event_types": strings("Only these event types."),
                    "tags": strings("Only memories with every one of these tags."),
                    "limit": integer("At most this many (default 100, at most 1000).", 1),
                    "page_token": string("The next_page_token of a previous answer, for the next page."),
                }),
                &["agent"],
            ),
        },
        ToolSpec {
            name: "search",
            description: "Search memories. With `query`: ranked by relevance to it (words and meaning), best first, \
                          each with its score. Without: filtered and newest first. `content_contains` matches \
                          words in any form (\"restart redis\" finds \"Restarted Redis\").",
            schema: object_schema(
                json!({
                    "query": string("What to look for, in natural language."),
                    "agent": string("Only this agent's memories (id or name)."),
                    "content_contains": string("Only memories whose content contains these words."),
                    "tags": strings("Only memories with every one of these tags."),
                    "any_tags": strings("Only memories with at least one of these tags."),
                    "memory_types": strings(MEMORY_TYPES),
                    "event_types": strings("Only these event types."),
                    "session_id": string("Only this session's memories."),
                    "since": string(TIME_SPEC),
                    "until": string(TIME_SPEC),
                    "min_importance": {"type": "number", "minimum": 0, "maximum": 1},
                    "scope": string("Only memories about this end user."),
                    "mode": {"type": "string", "enum": ["keyword", "semantic", "hybrid"],
                             "description": "How `query` ranks; default hybrid with an embedder, else keyword."},
                    "limit": integer("At most this many (default 100, at most 1000).", 1),
                }),
                &[],
            ),
        },
        ToolSpec {
            name: "get_context",
            description: "Build an LLM-ready Markdown summary of what an agent or a session remembers (decisions \
                          first, then recent events), within a token budget. Give `agent` or `session_id`.",
            schema: object_schema(
                json!({
                    "agent": string("The agent (id or name): its memories across sessions."),
                    "session_id": string("The session (ses_...): its memories."),
                    "since": string(TIME_SPEC),
                    "until": string(TIME_SPEC),
                    "include_types": strings(MEMORY_TYPES),
                    "max_tokens": integer("The token budget of the context (default 4000).", 1),
                    "query": string("What the next prompt is about: relevant memories come first."),
                    "scope": string("Only memories about this end user."),
                }),
                &[],
            ),
        },
        ToolSpec {
            name: "list_sessions",
            description: "List sessions (units of work of an agent), with their status and metadata.",
            schema: object_schema(
                json!({
                    "agent": string("Only this agent's sessions (id or name)."),
                    "status": {"type": "string", "enum": ["active", "closed"]},
                }),
                &[],
            ),
        },
        ToolSpec {
            name: "append_messages",
            description: "Append messages to a conversation (created on first use), in order. A message with a \
                          message_id already stored is not stored twice. Returns the stored messages with their \
                          sequence numbers.",
            schema: object_schema(
                json!({
                    "agent": string(AGENT),
                    "conversation": string("The conversation's id, chosen by the caller (e.g. a chat or ticket id)."),
                    "scope": string("The end user the conversation is with (conversations are kept apart by it)."),
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                                "content": {"type": "string"},
                                "name": {"type": "string"},
                                "tool_call_id": {"type": "string", "description": "role tool: the call it answers"},
                                "message_id": {"type": "string", "description": "the caller's id, for retries"},
                                "metadata": {"type": "object"},
                            },
                            "required": ["role", "content"],
                            "additionalProperties": false,
                        },
                    },
                    "record_as_memories": {"type": "boolean",
                                           "description": "Also store user and assistant messages as memories."},
                }),
                &["agent", "conversation", "messages"],
            ),
        },
        ToolSpec {
            name: "get_window",
            description: "The active window of a conversation: its newest messages that fit the limits, oldest \
                          first, ready to send to a model, with the summary of older ones if one was set.",
            schema: object_schema(
                json!({
                    "agent": string(AGENT),
                    "conversation": string("The conversation's id."),
                    "scope": string("The end user the conversation is with."),
                    "max_messages": integer("At most this many messages (default the agent's, else 100).", 1),
                    "max_tokens": integer("At most this many tokens (default the agent's, else 8000).", 1),
                }),
                &["agent", "conversation"],
            ),
        },
        ToolSpec {
            name: "get_working_memory",
            description: "Read a session's working memory: a JSON document of the task at hand (goals, plan, \
                          scratch notes), with its version (0: never written).",
            schema: object_schema(json!({"session_id": string("The session (ses_...).")}), &["session_id"]),
        },
        ToolSpec {
            name: "patch_working_memory",
            description: "Change a session's working memory with a JSON merge patch (RFC 7396: keys set, null \
                          removes). Give the version you read: if another writer changed it since, nothing is \
                          written and the call fails; read again and retry.",
            schema: object_schema(
                json!({
                    "session_id": string("The session (ses_...)."),
                    "patch": {"type": "object", "description": "The merge patch, e.g. {\"plan\": [\"a\", \"b\"], \"draft\": null}."},
                    "version": integer("The version read (0: never written).", 0),
                }),
                &["session_id", "patch", "version"],
            ),
        },
    ]
}

/// The arguments of one call, checked against the tool's schema's property names.
struct Args {
    map: Map<String, Value>,
}

impl Args {
    fn new(spec: &ToolSpec, map: Map<String, Value>) -> Result<Self, String> {
        let known = spec.schema["properties"].as_object().map(|p| p.keys().cloned().collect::<Vec<_>>());
        let known = known.unwrap_or_default();
        if let Some(unknown) = map.keys().find(|k| !known.contains(k)) {
            return Err(format!("unknown argument {unknown:?}; {} takes {}", spec.name, known.join(", ")));
        }
        let args = Self { map };
        for name in spec.schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if args.map.get(name).is_none_or(Value::is_null) {
                return Err(format!("argument {name:?} is required"));
            }
        }
        Ok(args)
    }

    /// A string argument that goes into the path: required and non-empty when asked.
    fn text(&self, name: &str) -> Result<Option<String>, String> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(format!("argument {name:?} is empty")),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("argument {name:?} must be a string, not {other}")),
        }
    }

    fn required_text(&self, name: &str) -> Result<String, String> {
        self.text(name)?.ok_or_else(|| format!("argument {name:?} is required"))
    }

    /// The arguments as a JSON body, without `skip`, with `renames` (argument, body field).
    fn body(&self, skip: &[&str], renames: &[(&str, &str)]) -> Map<String, Value> {
        self.map
            .iter()
            .filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| {
                let key = renames.iter().find(|(from, _)| from == k).map_or(k.as_str(), |(_, to)| to);
                (key.to_owned(), v.clone())
            })
            .collect()
    }

    /// Query parameters of the scalar arguments `names` that are given.
    fn query(&self, names: &[(&str, &str)]) -> Result<String, String> {
        let mut pairs = Vec::new();
        for (arg, param) in names {
            match self.map.get(*arg) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => pairs.push((*param, s.clone())),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => pairs.push((*param, v.to_string())),
                Some(other) => return Err(format!("argument {arg:?} must be a string or a number, not {other}")),
            }
        }
        if pairs.is_empty() {
            return Ok(String::new());
        }
        serde_urlencoded::to_string(&pairs).map(|q| format!("?{q}")).map_err(|e| e.to_string())
    }
}

/// A path segment, percent-encoded (every byte but the RFC 3986 unreserved ones).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn post(path: String, body: Map<String, Value>) -> RestCall {
    RestCall { method: Method::POST, path, body: Some(Value::Object(body)) }
}

fn get(path: String) -> RestCall {
    RestCall { method: Method::GET, path, body: None }
}

/// The REST call of tool `name` with `arguments`; an error is a message for the caller.
pub fn rest_call(name: &str, arguments: Map<String, Value>) -> Result<RestCall, String> {
    let spec = specs().iter().find(|s| s.name == name).ok_or_else(|| format!("no tool {name:?}"))?;
    let args = Args::new(spec, arguments)?;
    let api = "/api/v1";
    Ok(match name {
        "remember" => {
            args.required_text("agent")?;
            post(format!("{api}/memories"), args.body(&[], &[("agent", "agent_id")]))
        }
        "decide" => {
            args.required_text("agent")?;
            let mut body = args.body(&[], &[("agent", "agent_id"), ("decision", "content")]);
            body.insert("memory_type".into(), "decision".into());
            body.insert("event_type".into(), "decision".into());
            post(format!("{api}/memories"), body)
        }
        "recall" => {
            args.required_text("agent")?;
            let mut body = args.body(&[], &[("agent", "agent_id")]);
            body.entry("since").or_insert_with(|| "24h".into());
            post(format!("{api}/search"), body)
        }
        "search" => post(format!("{api}/search"), args.body(&[], &[("agent", "agent_id")])),
        "get_context" => {
            let body = args.body(&["agent", "session_id"], &[]);
            match (args.text("agent")?, args.text("session_id")?) {
                (Some(agent), None) => post(format!("{api}/agents/{}/context", segment(&agent)), body),
                (None, Some(session)) => post(format!("{api}/sessions/{}/context", segment(&session)), body),
                _ => return Err("give exactly one of \"agent\" and \"session_id\"".into()),
            }
        }
        "list_sessions" => {
            get(format!("{api}/sessions{}", args.query(&[("agent", "agent_id"), ("status", "status")])?))
        }
        "append_messages" => {
            let (agent, conversation) = (args.required_text("agent")?, args.required_text("conversation")?);
            let path = format!(
                "{api}/conversations/{}/{}/messages{}",
                segment(&agent),
                segment(&conversation),
                args.query(&[("scope", "scope")])?
            );
            post(path, args.body(&["agent", "conversation", "scope"], &[]))
        }
        "get_window" => {
            let (agent, conversation) = (args.required_text("agent")?, args.required_text("conversation")?);
            let query =
                args.query(&[("scope", "scope"), ("max_messages", "max_messages"), ("max_tokens", "max_tokens")])?;
            get(format!("{api}/conversations/{}/{}/window{query}", segment(&agent), segment(&conversation)))
        }
        "get_working_memory" => {
            get(format!("{api}/sessions/{}/working-memory", segment(&args.required_text("session_id")?)))
        }
        "patch_working_memory" => {
            let path = format!("{api}/sessions/{}/working-memory", segment(&args.required_text("session_id")?));
            RestCall { method: Method::PATCH, path, body: Some(Value::Object(args.body(&["session_id"], &[]))) }
        }
        other => return Err(format!("no tool {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_tool_has_a_call_and_a_closed_object_schema() {
        for spec in specs() {
            assert_eq!(spec.schema["type"], "object", "{}", spec.name);
            assert_eq!(spec.schema["additionalProperties"], false, "{}", spec.name);
            let err = rest_call(spec.name, args(json!({"no_such_argument": 1}))).unwrap_err();
            assert!(err.contains("no_such_argument"), "{}: {err}", spec.name);
        }
    }

    #[test]
    fn calls_map_arguments_to_the_rest_surface() {
        let call = rest_call("decide", args(json!({"agent": "ops bot", "decision": "d", "reasoning": "r"}))).unwrap();
        assert_eq!(call.path, "/api/v1/memories");
        let body = call.body.unwrap();
        assert_eq!((body["agent_id"].as_str(), body["content"].as_str()), (Some("ops bot"), Some("d")));
        assert_eq!(body["memory_type"], "decision");

        let call = rest_call("get_window", args(json!({"agent": "a/b", "conversation": "c 1", "max_tokens": 50})));
        assert_eq!(call.unwrap().path, "/api/v1/conversations/a%2Fb/c%201/window?max_tokens=50");
        let recall = rest_call("recall", args(json!({"agent": "a"}))).unwrap();
        assert_eq!(recall.body.unwrap()["since"], "24h");
        assert!(rest_call("get_context", args(json!({}))).unwrap_err().contains("exactly one"));
        assert!(rest_call("remember", args(json!({"agent": "a"}))).unwrap_err().contains("\"content\""));
        assert!(rest_call("remember", args(json!({"agent": 3, "content": "x"}))).unwrap_err().contains("string"));
    }
}
