//! Conversations: append messages, the active window (through the hot-window cache), full
//! history, listing, summaries, deletion.

use engram_context::Tokenizer;
use engram_context::window::window;
use engram_core::conversation::*;
use engram_core::time;
use engram_core::*;
use engram_store::{ConversationHead, MessageQuery};

use crate::handle::{Engram, PageRequest, require};
use crate::windows::Entry;

/// A conversation as a request names it (validated by the operations).
#[derive(Debug, Clone, Default)]
pub struct ConversationName {
    pub agent: String,
    pub scope: String,
    pub conversation: String,
}

impl ConversationName {
    fn checked(&self, limits: &Limits) -> Result<ConversationRef> {
        if self.agent.is_empty() {
            return Err(Error::invalid("agent", "is required (an agent id or name)"));
        }
        limits.check_name("agent", &self.agent)?;
        let conv = ConversationRef {
            agent: AgentRef::parse(&self.agent),
            scope: self.scope.clone(),
            conversation: self.conversation.clone(),
        };
        limits.check_conversation_ref("", &conv)?;
        Ok(conv)
    }
}

/// What an append did: the conversation after it, every message as stored (in request order),
/// how many were retries of messages already stored, and the memories recorded for them.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendResult {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub duplicates: u32,
    pub memory_ids: Vec<String>,
}

/// A window and what was left out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub tokens: u64,
    pub omitted_messages: u64,
    pub omitted_tokens: u64,
    pub max_messages: u32,
    pub max_tokens: u32,
}

/// Agent config keys of the window limits and of recording messages as memories.
pub const AGENT_WINDOW_MESSAGES: &str = "window_max_messages";
pub const AGENT_WINDOW_TOKENS: &str = "window_max_tokens";
pub const AGENT_RECORD_MESSAGES: &str = "record_messages";

/// The tokens of a message: its content's, plus each tool call's name and arguments.
pub fn message_tokens(tokenizer: Tokenizer, m: &ValidMessage) -> u32 {
    let calls: usize = m.tool_calls.iter().map(|c| tokenizer.count(&c.name) + tokenizer.count(&c.arguments)).sum();
    u32::try_from(tokenizer.count(&m.content) + calls).unwrap_or(u32::MAX)
}

fn config_u32(config: &Metadata, key: &str) -> Option<u32> {
    config.get(key)?.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0)
}

impl Engram {
    /// Appends messages in order, atomically; a message whose `client_id` the conversation holds
    /// already is returned as stored, not stored again.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, conversation = name.conversation))]
    pub async fn append_messages(
        &self,
        p: &Principal,
        name: &ConversationName,
        messages: Vec<NewMessage>,
        record_as_memories: Option<bool>,
    ) -> Result<AppendResult> {
        require(p, Permission::Write)?;
        let conv = name.checked(&self.limits)?;
        self.limits.check_batch_size("messages", messages.len())?;
        let now = time::now();
        let tokenizer = self.conversations.tokenizer;
        // Tokenizing is CPU work: keep it off the async workers.
        let valid = tokio::task::block_in_place(|| {
            let mut valid = Vec::with_capacity(messages.len());
            for (i, m) in messages.into_iter().enumerate() {
                let mut m = self.limits.check_new_message(&format!("messages[{i}]"), m, now)?;
                m.tokens = message_tokens(tokenizer, &m);
                valid.push(m);
            }
            Ok::<_, Error>(valid)
        })?;
        let stored = self.store.append_messages(&p.org_id, &conv, valid, now).await?;
        let new: Vec<Message> = stored.messages.iter().filter(|(_, new)| *new).map(|(m, _)| m.clone()).collect();
        self.conversations.cache.appended(&p.org_id, stored.key, &new);
        let duplicates = u32::try_from(stored.messages.len() - new.len()).unwrap_or(u32::MAX);
        let record = record_as_memories.unwrap_or_else(|| {
            stored.agent_config.get(AGENT_RECORD_MESSAGES).and_then(serde_json::Value::as_bool) == Some(true)
        });
        let memory_ids = if record { self.record_messages(p, &stored.conversation, &new).await? } else { Vec::new() };
        Ok(AppendResult {
            conversation: stored.conversation,
            messages: stored.messages.into_iter().map(|(m, _)| m).collect(),
            duplicates,
            memory_ids,
        })
    }

    /// Records new user and assistant messages as episodic memories of the conversation's agent
    /// (event type `message`, tagged `conversation:<id>` when the id is a valid tag, the
    /// conversation and message in metadata, the message id as dedup key: deduplicated by message,
    /// never by content). Returns the memories' ids.
    async fn record_messages(
        &self,
        p: &Principal,
        conversation: &Conversation,
        new: &[Message],
    ) -> Result<Vec<String>> {
        let tag = format!("conversation:{}", conversation.conversation);
        let tags = if self.limits.check_tag("tag", &tag).is_ok() { vec![tag] } else { Vec::new() };
        let memories: Vec<NewMemory> = new
            .iter()
            .filter(|m| matches!(m.role, Role::User | Role::Assistant) && !m.content.trim().is_empty())
            .map(|m| {
                let speaker = m.name.as_deref().unwrap_or(m.role.as_str());
                let mut metadata = Metadata::new();
                metadata.insert("conversation".into(), conversation.conversation.clone().into());
                metadata.insert("scope".into(), conversation.scope.clone().into());
                metadata.insert("message_id".into(), m.id.clone().into());
                metadata.insert("seq".into(), m.seq.into());
                metadata.insert("role".into(), m.role.as_str().into());
                NewMemory {
                    agent: conversation.agent_id.clone(),
                    memory_type: Some(MemoryType::Episodic),
                    event_type: "message".into(),
                    content: format!("{speaker}: {}", m.content),
                    metadata,
                    tags: tags.clone(),
                    dedup_key: Some(m.id.clone()),
                    time: Some(m.time),
                    scope: Some(conversation.scope.clone()).filter(|s| !s.is_empty()),
                    ..NewMemory::default()
                }
            })
            .collect();
        if memories.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = self.add_memories(p, memories).await?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                AddOutcome::Created(m) => m.id,
                AddOutcome::Duplicate { existing_id } => existing_id,
            })
            .collect())
    }

    /// The active window: the newest messages within both limits (request, else the agent's
    /// config, else 100 messages and 8,000 tokens), system messages pinned, tool calls with their
    /// results; served from the hot-window cache when it holds the conversation as of now.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, conversation = name.conversation))]
    pub async fn get_window(
        &self,
        p: &Principal,
        name: &ConversationName,
        max_messages: u32,
        max_tokens: u32,
    ) -> Result<WindowResult> {
        require(p, Permission::Read)?;
        let conv = name.checked(&self.limits)?;
        let requested_messages = self.limits.window_limit("max_messages", max_messages, MAX_WINDOW_MESSAGES)?;
        let requested_tokens = self.limits.window_limit("max_tokens", max_tokens, self.limits.max_context_tokens)?;
        let head = self.head(p, &conv).await?;
        let max_messages = requested_messages
            .or_else(|| config_u32(&head.agent_config, AGENT_WINDOW_MESSAGES))
            .unwrap_or(DEFAULT_WINDOW_MESSAGES)
            .min(MAX_WINDOW_MESSAGES);
        let max_tokens = requested_tokens
            .or_else(|| config_u32(&head.agent_config, AGENT_WINDOW_TOKENS))
            .unwrap_or(DEFAULT_WINDOW_TOKENS);
        let last_seq = head.conversation.last_seq;
        let cache = &self.conversations.cache;
        let entry = match cache.get(&p.org_id, head.key, last_seq, max_messages as usize) {
            Some(entry) => entry,
            None => {
                // Read a little deeper than asked, so a growing conversation stays served.
                let depth = max_messages.max(DEFAULT_WINDOW_MESSAGES);
                let messages = self.store.window_messages(&p.org_id, head.key, depth).await?;
                let others = messages.iter().filter(|m| m.role != Role::System).count();
                let entry = Entry::new(messages, depth as usize, others < depth as usize);
                cache.put(&p.org_id, head.key, entry.clone());
                entry
            }
        };
        let chosen = window(&entry.messages, max_messages, max_tokens);
        let messages: Vec<Message> = chosen.kept.iter().map(|i| entry.messages[*i].clone()).collect();
        let conversation = head.conversation;
        Ok(WindowResult {
            omitted_messages: conversation.message_count.saturating_sub(messages.len() as u64),
            omitted_tokens: conversation.token_total.saturating_sub(chosen.tokens),
            tokens: chosen.tokens,
            messages,
            conversation,
            max_messages,
            max_tokens,
        })
    }

    async fn head(&self, p: &Principal, conv: &ConversationRef) -> Result<ConversationHead> {
        self.store.conversation_head(&p.org_id, conv).await?.ok_or_else(|| {
            Error::not_found(
                "conversation",
                format!("{} (scope {:?}, agent {})", conv.conversation, conv.scope, conv.agent.as_str()),
            )
        })
    }

    /// The full history, oldest first (or newest first), paged by `seq`, within times.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, conversation = name.conversation))]
    pub async fn list_messages(
        &self,
        p: &Principal,
        name: &ConversationName,
        page: PageRequest,
        newest_first: bool,
        since: &str,
        until: &str,
    ) -> Result<(Vec<Message>, Option<String>)> {
        require(p, Permission::Read)?;
        let conv = name.checked(&self.limits)?;
        let now = time::now();
        let limit = self.limits.page_size("page_size", page.size)?;
        let (since, until) = (time::parse_spec("since", since, now)?, time::parse_spec("until", until, now)?);
        let fingerprint = query_fingerprint(&format!("messages {conv:?} {newest_first} {since:?} {until:?}"));
        let after_seq = seq_token("page_token", &page.token, fingerprint)?;
        let query = MessageQuery { after_seq, newest_first, since, until, limit: limit + 1 };
        let mut messages = self.store.list_messages(&p.org_id, &conv, &query).await?;
        let next = (messages.len() > limit as usize).then(|| {
            messages.truncate(limit as usize);
            seq_token_of(messages.last().map_or(0, |m| m.seq), fingerprint)
        });
        Ok((messages, next))
    }

    /// An agent's conversations (in one scope when given), oldest first, with their counts.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn list_conversations(
        &self,
        p: &Principal,
        agent: &str,
        scope: Option<&str>,
        page: PageRequest,
    ) -> Result<(Vec<Conversation>, Option<String>)> {
        require(p, Permission::Read)?;
        if agent.is_empty() {
            return Err(Error::invalid("agent", "is required (an agent id or name)"));
        }
        self.limits.check_name("agent", agent)?;
        if let Some(scope) = scope.filter(|s| !s.is_empty()) {
            self.limits.check_id("scope", scope)?;
        }
        let limit = self.limits.page_size("page_size", page.size)?;
        let fingerprint = query_fingerprint(&format!("conversations {agent} {scope:?}"));
        let after = seq_token("page_token", &page.token, fingerprint)?;
        let agent = AgentRef::parse(agent);
        let mut heads = self.store.list_conversations(&p.org_id, &agent, scope, limit + 1, after).await?;
        let next = (heads.len() > limit as usize).then(|| {
            heads.truncate(limit as usize);
            seq_token_of(heads.last().map_or(0, |h| h.key), fingerprint)
        });
        Ok((heads.into_iter().map(|h| h.conversation).collect(), next))
    }

    /// Deletes a conversation and its messages; returns how many messages went.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, conversation = name.conversation))]
    pub async fn delete_conversation(&self, p: &Principal, name: &ConversationName) -> Result<u64> {
        require(p, Permission::Write)?;
        let conv = name.checked(&self.limits)?;
        let head = self.head(p, &conv).await?;
        let deleted = self.store.delete_conversation(&p.org_id, &conv).await?;
        self.conversations.cache.remove(&p.org_id, head.key);
        Ok(deleted)
    }

    /// Stores a client-written summary of what fell out of the window (empty text clears it);
    /// `through_seq` (0: not said) is the newest message it covers.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, conversation = name.conversation))]
    pub async fn set_summary(
        &self,
        p: &Principal,
        name: &ConversationName,
        text: &str,
        through_seq: i64,
    ) -> Result<Conversation> {
        require(p, Permission::Write)?;
        let conv = name.checked(&self.limits)?;
        let now = time::now();
        let head = self.head(p, &conv).await?;
        if through_seq < 0 || through_seq > head.conversation.last_seq {
            return Err(Error::invalid(
                "through_seq",
                format!("is {through_seq}; the conversation's messages are 1..={}", head.conversation.last_seq),
            ));
        }
        let summary = if text.is_empty() {
            None
        } else {
            self.limits.check_content("text", text)?;
            let tokens = u32::try_from(self.conversations.tokenizer.count(text)).unwrap_or(u32::MAX);
            Some(Summary { text: text.to_owned(), through_seq, tokens, updated_at: now })
        };
        self.store.set_summary(&p.org_id, &conv, summary, now).await
    }

    /// What the hot-window cache holds and how it served.
    pub fn window_cache_stats(&self) -> crate::windows::WindowCacheStats {
        self.conversations.cache.stats()
    }
}

/// A page token of messages (by `seq`) or conversations (by key).
fn seq_token(field: &str, token: &str, fingerprint: u64) -> Result<Option<i64>> {
    if token.is_empty() {
        return Ok(None);
    }
    Ok(Some(Cursor::decode(field, token, fingerprint)?.time_us))
}

fn seq_token_of(seq: i64, fingerprint: u64) -> String {
    Cursor { time_us: seq, id: "s".into(), query: fingerprint }.encode()
}
