use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orgs {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    OrgId,
    Name,
    Digest,
    Permissions,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Agents {
    Table,
    Id,
    OrgId,
    Name,
    Description,
    Config,
    CreatedAt,
    LastActiveAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    OrgId,
    AgentId,
    Status,
    Metadata,
    CreatedAt,
    UpdatedAt,
    ClosedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Memories {
    Table,
    Id,
    OrgId,
    AgentId,
    SessionId,
    MemoryType,
    EventType,
    Content,
    ContentLower,
    Metadata,
    Tags,
    Importance,
    ParentId,
    DedupKey,
    Time,
    CreatedAt,
    Step,
    PosX,
    PosY,
    PosZ,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MemoryTags {
    Table,
    MemoryId,
    OrgId,
    Tag,
    Time,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orgs::Table)
                    .col(string(Orgs::Id).primary_key())
                    .col(string_uniq(Orgs::Name))
                    .col(big_integer(Orgs::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(string(ApiKeys::Id).primary_key())
                    .col(string(ApiKeys::OrgId))
                    .col(string(ApiKeys::Name))
                    .col(string(ApiKeys::Digest))
                    .col(string(ApiKeys::Permissions))
                    .col(big_integer(ApiKeys::CreatedAt))
                    .col(big_integer_null(ApiKeys::ExpiresAt))
                    .col(big_integer_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_api_keys_org", ApiKeys::Table, &[ApiKeys::OrgId], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .col(string(Agents::Id).primary_key())
                    .col(string(Agents::OrgId))
                    .col(string(Agents::Name))
                    .col(text(Agents::Description))
                    .col(json_binary(Agents::Config))
                    .col(big_integer(Agents::CreatedAt))
                    .col(big_integer_null(Agents::LastActiveAt))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_agents_org_name", Agents::Table, &[Agents::OrgId, Agents::Name], true).await?;
        index(manager, "idx_agents_org_created", Agents::Table, &[Agents::OrgId, Agents::CreatedAt, Agents::Id], false)
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string(Sessions::Id).primary_key())
                    .col(string(Sessions::OrgId))
                    .col(string(Sessions::AgentId))
                    .col(string(Sessions::Status))
                    .col(json_binary(Sessions::Metadata))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::UpdatedAt))
                    .col(big_integer_null(Sessions::ClosedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_sessions_org_agent_created",
            Sessions::Table,
            &[Sessions::OrgId, Sessions::AgentId, Sessions::CreatedAt, Sessions::Id],
            false,
        )
        .await?;
        index(
            manager,
            "idx_sessions_org_created",
            Sessions::Table,
            &[Sessions::OrgId, Sessions::CreatedAt, Sessions::Id],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memories::Table)
                    .col(string(Memories::Id).primary_key())
                    .col(string(Memories::OrgId))
                    .col(string(Memories::AgentId))
                    .col(string_null(Memories::SessionId))
                    .col(string(Memories::MemoryType))
                    .col(string(Memories::EventType))
                    .col(text(Memories::Content))
                    .col(text(Memories::ContentLower))
                    .col(json_binary(Memories::Metadata))
                    .col(json_binary(Memories::Tags))
                    .col(double(Memories::Importance))
                    .col(string_null(Memories::ParentId))
                    .col(string(Memories::DedupKey))
                    .col(big_integer(Memories::Time))
                    .col(big_integer(Memories::CreatedAt))
                    .col(big_integer_null(Memories::Step))
                    .col(double_null(Memories::PosX))
                    .col(double_null(Memories::PosY))
                    .col(double_null(Memories::PosZ))
                    .col(big_integer_null(Memories::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // The hot paths: recall by agent or session over time, org-wide listing, type filters, dedup.
        // Each time index ends with id (stable order for cursors) and expires_at (so the "not
        // expired" test and counts need no table lookup).
        let m = Memories::Table;
        index(
            manager,
            "idx_memories_agent_time",
            m,
            &[Memories::OrgId, Memories::AgentId, Memories::Time, Memories::Id, Memories::ExpiresAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_memories_session_time",
            m,
            &[Memories::OrgId, Memories::SessionId, Memories::Time, Memories::Id, Memories::ExpiresAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_memories_org_time",
            m,
            &[Memories::OrgId, Memories::Time, Memories::Id, Memories::ExpiresAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_memories_type_time",
            m,
            &[Memories::OrgId, Memories::MemoryType, Memories::Time, Memories::Id, Memories::ExpiresAt],
            false,
        )
        .await?;
        index(manager, "idx_memories_dedup", m, &[Memories::OrgId, Memories::DedupKey, Memories::CreatedAt], false)
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MemoryTags::Table)
                    .col(string(MemoryTags::MemoryId))
                    .col(string(MemoryTags::OrgId))
                    .col(string(MemoryTags::Tag))
                    // The memory's time, so a tag query walks this index in time order.
                    .col(big_integer(MemoryTags::Time))
                    .primary_key(Index::create().col(MemoryTags::MemoryId).col(MemoryTags::Tag))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_memory_tags_tag",
            MemoryTags::Table,
            &[MemoryTags::OrgId, MemoryTags::Tag, MemoryTags::Time, MemoryTags::MemoryId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(MemoryTags::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Memories::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Sessions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Agents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ApiKeys::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Orgs::Table).to_owned()).await
    }
}

async fn index<T: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[T],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(*col);
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt.to_owned()).await
}
