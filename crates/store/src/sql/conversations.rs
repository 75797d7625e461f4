//! [`ConversationStore`]: message histories by (agent, scope, conversation id).

use std::collections::HashMap;

use engram_core::conversation::*;
use engram_core::time::{Timestamp, from_micros, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::{Conn, Param, Row, params, placeholders};
use super::shared::refs::{agent_column, find_or_register_agent, touch_agents};
use super::writer::org_lock;
use crate::{ConversationHead, ConversationStore, MessageQuery};

const CONVERSATION_COLUMNS: &str = "c.key, a.id, c.scope, c.name, c.message_count, c.token_total, c.last_seq, \
     c.created_at, c.last_activity_at, c.summary, c.summary_through, c.summary_tokens, c.summary_at, a.config";

const MESSAGE_COLUMNS: &str =
    "seq, id, role, content, name, tool_calls, tool_call_id, time, metadata, tokens, client_id, created_at";

fn conversation_row(r: &Row<'_>) -> Result<ConversationHead> {
    let summary = match r.opt_string(9)? {
        Some(text) => Some(Summary {
            text,
            through_seq: r.opt_i64(10)?.unwrap_or(0),
            tokens: u32::try_from(r.opt_i64(11)?.unwrap_or(0)).unwrap_or(u32::MAX),
            updated_at: from_micros(r.opt_i64(12)?.unwrap_or(0)),
        }),
        None => None,
    };
    Ok(ConversationHead {
        key: r.i64(0)?,
        agent_config: r.object(13)?,
        conversation: Conversation {
            agent_id: r.string(1)?,
            scope: r.string(2)?,
            conversation: r.string(3)?,
            message_count: u64::try_from(r.i64(4)?).unwrap_or(0),
            token_total: u64::try_from(r.i64(5)?).unwrap_or(0),
            last_seq: r.i64(6)?,
            created_at: from_micros(r.i64(7)?),
            last_activity_at: from_micros(r.i64(8)?),
            summary,
        },
    })
}

fn message_row(r: &Row<'_>) -> Result<Message> {
    let tool_calls = match r.opt_str(5)? {
        Some(text) => serde_json::from_str(text).map_err(|e| Error::internal(format!("stored tool calls: {e}")))?,
        None => Vec::new(),
    };
    let role = i16::try_from(r.i64(2)?).ok().and_then(Role::from_code);
    Ok(Message {
        seq: r.i64(0)?,
        id: r.string(1)?,
        role: role.ok_or_else(|| Error::internal("stored message role"))?,
        content: r.string(3)?,
        name: r.opt_string(4)?,
        tool_calls,
        tool_call_id: r.opt_string(6)?,
        time: from_micros(r.i64(7)?),
        metadata: r.object(8)?,
        tokens: u32::try_from(r.i64(9)?).unwrap_or(u32::MAX),
        client_id: r.opt_string(10)?,
        created_at: from_micros(r.i64(11)?),
    })
}

/// The conversation a reference names in the org, if it exists (one indexed lookup).
async fn find_conversation(c: &mut Conn<'_>, org_key: i64, conv: &ConversationRef) -> Result<Option<ConversationHead>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM agents a JOIN conversations c ON c.agent_key = a.key \
         WHERE a.org_key = $1 AND a.{} = $2 AND c.scope = $3 AND c.name = $4",
        agent_column(&conv.agent)
    );
    let values = params![org_key, conv.agent.as_str(), conv.scope.as_str(), conv.conversation.as_str()];
    c.query_one(&sql, values, conversation_row).await
}

fn not_found(conv: &ConversationRef) -> Error {
    let scope = if conv.scope.is_empty() { String::new() } else { format!(" in scope {}", conv.scope) };
    Error::not_found("conversation", format!("{}{scope} of agent {}", conv.conversation, conv.agent.as_str()))
}

#[async_trait::async_trait]
impl ConversationStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, conversation = conv.conversation))]
    async fn append_messages(
        &self,
        org: &str,
        conv: &ConversationRef,
        messages: Vec<ValidMessage>,
        now: Timestamp,
    ) -> Result<Appended> {
        let org_key = self.org_key_for_write(org).await?;
        let conv = conv.clone();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let agent = find_or_register_agent(c, org_key, &conv.agent, now).await?;
                let by_id = ConversationRef { agent: AgentRef::Id(agent.id.clone()), ..conv.clone() };
                let head = match find_conversation(c, org_key, &by_id).await? {
                    Some(head) => head,
                    None => {
                        let sql = "INSERT INTO conversations (org_key, agent_key, scope, name, created_at, \
                                   last_activity_at) VALUES ($1, $2, $3, $4, $5, $5)";
                        let values = params![
                            org_key,
                            agent.key,
                            conv.scope.as_str(),
                            conv.conversation.as_str(),
                            to_micros(now)
                        ];
                        c.execute(sql, values).await?;
                        find_conversation(c, org_key, &by_id)
                            .await?
                            .ok_or_else(|| Error::internal("the new conversation was not found"))?
                    }
                };
                // Messages already stored under their client ids (a retried append).
                let client_ids: Vec<&str> = messages.iter().filter_map(|m| m.client_id.as_deref()).collect();
                let mut stored: HashMap<String, Message> = HashMap::new();
                for chunk in client_ids.chunks(500) {
                    let sql = format!(
                        "SELECT {MESSAGE_COLUMNS} FROM conversation_messages WHERE conversation_key = $1 \
                         AND client_id IN ({})",
                        placeholders(2, chunk.len())
                    );
                    let mut values = vec![Param::from(head.key)];
                    values.extend(chunk.iter().map(|id| Param::from(*id)));
                    for m in c.query(&sql, values, message_row).await? {
                        stored.insert(m.client_id.clone().unwrap_or_default(), m);
                    }
                }
                let (mut seq, mut added, mut tokens) = (head.conversation.last_seq, 0i64, 0i64);
                let mut out = Vec::with_capacity(messages.len());
                for m in messages {
                    if let Some(existing) = m.client_id.as_deref().and_then(|id| stored.get(id)) {
                        out.push((existing.clone(), false));
                        continue;
                    }
                    seq += 1;
                    let message = Message {
                        id: ids::message_id(),
                        seq,
                        role: m.role,
                        content: m.content,
                        name: m.name,
                        tool_calls: m.tool_calls,
                        tool_call_id: m.tool_call_id,
                        time: m.time,
                        metadata: m.metadata,
                        client_id: m.client_id,
                        tokens: m.tokens,
                        created_at: now,
                    };
                    let tool_calls = if message.tool_calls.is_empty() {
                        None
                    } else {
                        Some(serde_json::to_string(&message.tool_calls).map_err(|e| Error::internal(e.to_string()))?)
                    };
                    let sql = format!(
                        "INSERT INTO conversation_messages (conversation_key, {MESSAGE_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                    );
                    let values = vec![
                        Param::from(head.key),
                        seq.into(),
                        Param::from(&message.id),
                        i64::from(message.role.code()).into(),
                        Param::from(&message.content),
                        Param::Text(message.name.clone()),
                        Param::Text(tool_calls),
                        Param::Text(message.tool_call_id.clone()),
                        to_micros(message.time).into(),
                        Param::Json(serde_json::Value::Object(message.metadata.clone())),
                        i64::from(message.tokens).into(),
                        Param::Text(message.client_id.clone()),
                        to_micros(now).into(),
                    ];
                    c.execute(&sql, values).await?;
                    added += 1;
                    tokens += i64::from(message.tokens);
                    if let Some(id) = &message.client_id {
                        stored.insert(id.clone(), message.clone());
                    }
                    out.push((message, true));
                }
                if added > 0 {
                    let sql = "UPDATE conversations SET message_count = message_count + $1, token_total = \
                               token_total + $2, last_seq = $3, last_activity_at = $4 WHERE key = $5";
                    c.execute(sql, params![added, tokens, seq, to_micros(now), head.key]).await?;
                    touch_agents(c, &[agent.key], now).await?;
                }
                let head = find_conversation(c, org_key, &by_id)
                    .await?
                    .ok_or_else(|| Error::internal("the conversation was not found after the append"))?;
                Ok(Appended {
                    key: head.key,
                    conversation: head.conversation,
                    messages: out,
                    agent_config: head.agent_config,
                })
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, conversation = conv.conversation))]
    async fn conversation_head(&self, org: &str, conv: &ConversationRef) -> Result<Option<ConversationHead>> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(None) };
        let conv = conv.clone();
        self.read(move |c| Box::pin(async move { find_conversation(c, org_key, &conv).await })).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, key = conversation_key))]
    async fn window_messages(&self, org: &str, conversation_key: i64, newest: u32) -> Result<Vec<Message>> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(Vec::new()) };
        self.read(move |c| {
            Box::pin(async move {
                // The key is the org's (a primary-key lookup), so no other org's messages are read.
                let ours = "EXISTS (SELECT 1 FROM conversations WHERE key = $1 AND org_key = $2)";
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM conversation_messages WHERE conversation_key = $1 AND role = 1 \
                     AND {ours} ORDER BY seq"
                );
                let mut found = c.query(&sql, params![conversation_key, org_key], message_row).await?;
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM conversation_messages WHERE conversation_key = $1 AND role <> 1 \
                     AND {ours} ORDER BY seq DESC LIMIT $3"
                );
                let values = params![conversation_key, org_key, i64::from(newest)];
                found.extend(c.query(&sql, values, message_row).await?);
                found.sort_by_key(|m| m.seq);
                Ok(found)
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, conversation = conv.conversation))]
    async fn list_messages(&self, org: &str, conv: &ConversationRef, query: &MessageQuery) -> Result<Vec<Message>> {
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found(conv)) };
        let (conv, query) = (conv.clone(), query.clone());
        self.read(move |c| {
            Box::pin(async move {
                let head = find_conversation(c, org_key, &conv).await?.ok_or_else(|| not_found(&conv))?;
                let mut sql =
                    format!("SELECT {MESSAGE_COLUMNS} FROM conversation_messages WHERE conversation_key = $1");
                let mut values = vec![Param::from(head.key)];
                let mut bind = |sql: &mut String, test: &str, value: Param| {
                    values.push(value);
                    sql.push_str(&format!(" AND {test} ${}", values.len()));
                };
                if query.newest_first {
                    if let Some(before) = query.after_seq {
                        bind(&mut sql, "seq <", before.into());
                    }
                } else if let Some(after) = query.after_seq {
                    bind(&mut sql, "seq >", after.into());
                }
                if let Some(since) = query.since {
                    bind(&mut sql, "time >=", to_micros(since).into());
                }
                if let Some(until) = query.until {
                    bind(&mut sql, "time <", to_micros(until).into());
                }
                values.push(i64::from(query.limit).into());
                let order = if query.newest_first { "DESC" } else { "ASC" };
                sql.push_str(&format!(" ORDER BY seq {order} LIMIT ${}", values.len()));
                c.query(&sql, values, message_row).await
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn list_conversations(
        &self,
        org: &str,
        agent: &AgentRef,
        scope: Option<&str>,
        limit: u32,
        after_key: Option<i64>,
    ) -> Result<Vec<ConversationHead>> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(Vec::new()) };
        let (agent, scope) = (agent.clone(), scope.map(str::to_owned));
        self.read(move |c| {
            Box::pin(async move {
                let mut sql = format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM agents a JOIN conversations c ON c.agent_key = a.key \
                     WHERE a.org_key = $1 AND a.{} = $2",
                    agent_column(&agent)
                );
                let mut values = params![org_key, agent.as_str()];
                if let Some(scope) = scope {
                    values.push(scope.into());
                    sql.push_str(&format!(" AND c.scope = ${}", values.len()));
                }
                if let Some(after) = after_key {
                    values.push(after.into());
                    sql.push_str(&format!(" AND c.key > ${}", values.len()));
                }
                values.push(i64::from(limit).into());
                sql.push_str(&format!(" ORDER BY c.key LIMIT ${}", values.len()));
                c.query(&sql, values, conversation_row).await
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, conversation = conv.conversation))]
    async fn delete_conversation(&self, org: &str, conv: &ConversationRef) -> Result<u64> {
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found(conv)) };
        let conv = conv.clone();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let head = find_conversation(c, org_key, &conv).await?.ok_or_else(|| not_found(&conv))?;
                let deleted = c
                    .execute("DELETE FROM conversation_messages WHERE conversation_key = $1", params![head.key])
                    .await?;
                c.execute("DELETE FROM conversations WHERE key = $1", params![head.key]).await?;
                Ok(deleted)
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, conversation = conv.conversation))]
    async fn set_summary(
        &self,
        org: &str,
        conv: &ConversationRef,
        summary: Option<Summary>,
        now: Timestamp,
    ) -> Result<Conversation> {
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found(conv)) };
        let conv = conv.clone();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let head = find_conversation(c, org_key, &conv).await?.ok_or_else(|| not_found(&conv))?;
                let sql = "UPDATE conversations SET summary = $1, summary_through = $2, summary_tokens = $3, \
                           summary_at = $4, last_activity_at = $5 WHERE key = $6";
                let values = match &summary {
                    Some(s) => vec![
                        Param::from(&s.text),
                        s.through_seq.into(),
                        i64::from(s.tokens).into(),
                        to_micros(s.updated_at).into(),
                        to_micros(now).into(),
                        head.key.into(),
                    ],
                    None => vec![
                        Param::Text(None),
                        Param::Int(None),
                        Param::Int(None),
                        Param::Int(None),
                        to_micros(now).into(),
                        head.key.into(),
                    ],
                };
                c.execute(sql, values).await?;
                let head = find_conversation(c, org_key, &conv).await?.ok_or_else(|| not_found(&conv))?;
                Ok(head.conversation)
            })
        })
        .await
    }
}
