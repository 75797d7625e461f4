//! engram.v1.ConversationService adapter, with its message conversions.

use tonic::{Request, Response, Status};

use engram_app::conversations::{AppendResult, ConversationName, WindowResult};
use engram_app::{Engram, PageRequest};
use engram_core::conversation::{Conversation, Message, NewMessage, Role, Summary, ToolCall};
use engram_core::{Error, Result};
use engram_proto::v1 as pb;
use engram_proto::v1::conversation_service_server::ConversationService;

use super::{convert, principal, status};

pub struct ConversationApi {
    pub app: Engram,
}

fn role(field: &str, raw: i32) -> Result<Option<Role>> {
    match pb::Role::try_from(raw) {
        Ok(pb::Role::Unspecified) => Ok(None),
        Ok(pb::Role::System) => Ok(Some(Role::System)),
        Ok(pb::Role::User) => Ok(Some(Role::User)),
        Ok(pb::Role::Assistant) => Ok(Some(Role::Assistant)),
        Ok(pb::Role::Tool) => Ok(Some(Role::Tool)),
        Err(_) => Err(Error::invalid(
            field,
            format!("{raw} is not a role (ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL)"),
        )),
    }
}

fn pb_role(role: Role) -> i32 {
    match role {
        Role::System => pb::Role::System,
        Role::User => pb::Role::User,
        Role::Assistant => pb::Role::Assistant,
        Role::Tool => pb::Role::Tool,
    }
    .into()
}

pub(crate) fn new_message(i: usize, m: pb::NewMessage) -> Result<NewMessage> {
    let field = |name: &str| format!("messages[{i}].{name}");
    Ok(NewMessage {
        role: role(&field("role"), m.role)?,
        content: m.content,
        name: m.name,
        tool_calls: m
            .tool_calls
            .into_iter()
            .map(|c| ToolCall { id: c.id, name: c.name, arguments: c.arguments })
            .collect(),
        tool_call_id: m.tool_call_id,
        time: convert::from_timestamp(&field("time"), m.time)?,
        metadata: convert::struct_to_json(&field("metadata"), m.metadata)?,
        client_id: m.message_id,
    })
}

fn message(m: Message) -> pb::Message {
    pb::Message {
        id: m.id,
        seq: m.seq,
        role: pb_role(m.role),
        content: m.content,
        name: m.name.unwrap_or_default(),
        tool_calls: m
            .tool_calls
            .into_iter()
            .map(|c| pb::ToolCall { id: c.id, name: c.name, arguments: c.arguments })
            .collect(),
        tool_call_id: m.tool_call_id.unwrap_or_default(),
        time: Some(convert::timestamp(m.time)),
        metadata: Some(convert::json_to_struct(&m.metadata)),
        message_id: m.client_id.unwrap_or_default(),
        tokens: m.tokens,
        created_at: Some(convert::timestamp(m.created_at)),
    }
}

fn summary(s: Summary) -> pb::Summary {
    pb::Summary {
        text: s.text,
        through_seq: s.through_seq,
        tokens: s.tokens,
        updated_at: Some(convert::timestamp(s.updated_at)),
    }
}

fn conversation(c: Conversation) -> pb::Conversation {
    pb::Conversation {
        agent_id: c.agent_id,
        scope: c.scope,
        conversation: c.conversation,
        message_count: c.message_count,
        token_total: c.token_total,
        last_seq: c.last_seq,
        created_at: Some(convert::timestamp(c.created_at)),
        last_activity_at: Some(convert::timestamp(c.last_activity_at)),
        summary: c.summary.map(summary),
    }
}

fn name(agent: String, scope: String, conversation: String) -> ConversationName {
    ConversationName { agent, scope, conversation }
}

#[tonic::async_trait]
impl ConversationService for ConversationApi {
    async fn append_messages(
        &self,
        request: Request<pb::AppendMessagesRequest>,
    ) -> Result<Response<pb::AppendMessagesResponse>, Status> {
        let p = principal(&request)?;
        let pb::AppendMessagesRequest { agent, scope, conversation: conv, messages, record_as_memories } =
            request.into_inner();
        let messages = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| new_message(i, m))
            .collect::<Result<Vec<_>>>()
            .map_err(status)?;
        let AppendResult { conversation: c, messages, duplicates, memory_ids } = self
            .app
            .append_messages(&p, &name(agent, scope, conv), messages, record_as_memories)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AppendMessagesResponse {
            conversation: Some(conversation(c)),
            messages: messages.into_iter().map(message).collect(),
            duplicates,
            memory_ids,
        }))
    }

    async fn get_window(&self, request: Request<pb::GetWindowRequest>) -> Result<Response<pb::Window>, Status> {
        let p = principal(&request)?;
        let pb::GetWindowRequest { agent, scope, conversation: conv, max_messages, max_tokens } = request.into_inner();
        let WindowResult {
            conversation: c,
            messages,
            tokens,
            omitted_messages,
            omitted_tokens,
            max_messages,
            max_tokens,
        } = self.app.get_window(&p, &name(agent, scope, conv), max_messages, max_tokens).await.map_err(status)?;
        Ok(Response::new(pb::Window {
            summary: c.summary.clone().map(summary),
            conversation: Some(conversation(c)),
            messages: messages.into_iter().map(message).collect(),
            omitted_messages,
            omitted_tokens,
            token_count: tokens,
            max_messages,
            max_tokens,
        }))
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let p = principal(&request)?;
        let pb::ListMessagesRequest {
            agent,
            scope,
            conversation: conv,
            page_size,
            page_token,
            newest_first,
            since,
            until,
        } = request.into_inner();
        let page = PageRequest { size: page_size, token: page_token };
        let (messages, next) = self
            .app
            .list_messages(&p, &name(agent, scope, conv), page, newest_first, &since, &until)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListMessagesResponse {
            messages: messages.into_iter().map(message).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let p = principal(&request)?;
        let pb::ListConversationsRequest { agent, scope, page_size, page_token } = request.into_inner();
        let page = PageRequest { size: page_size, token: page_token };
        let (conversations, next) =
            self.app.list_conversations(&p, &agent, scope.as_deref(), page).await.map_err(status)?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: conversations.into_iter().map(conversation).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn delete_conversation(
        &self,
        request: Request<pb::DeleteConversationRequest>,
    ) -> Result<Response<pb::DeleteConversationResponse>, Status> {
        let p = principal(&request)?;
        let pb::DeleteConversationRequest { agent, scope, conversation: conv } = request.into_inner();
        let deleted = self.app.delete_conversation(&p, &name(agent, scope, conv)).await.map_err(status)?;
        Ok(Response::new(pb::DeleteConversationResponse { deleted_messages: deleted }))
    }

    async fn set_summary(&self, request: Request<pb::SetSummaryRequest>) -> Result<Response<pb::Conversation>, Status> {
        let p = principal(&request)?;
        let pb::SetSummaryRequest { agent, scope, conversation: conv, text, through_seq } = request.into_inner();
        let c = self.app.set_summary(&p, &name(agent, scope, conv), &text, through_seq).await.map_err(status)?;
        Ok(Response::new(conversation(c)))
    }
}
