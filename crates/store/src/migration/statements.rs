//! What most migrations run: a list of statements per backend. A leaf.

use sea_orm_migration::prelude::*;

/// Runs the statements of the database's backend, in order (the body of most migrations).
pub(super) async fn execute_all(manager: &SchemaManager<'_>, sqlite: &[&str], postgres: &[&str]) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend};
    let statements = match manager.get_database_backend() {
        DbBackend::Postgres => postgres,
        _ => sqlite,
    };
    for statement in statements {
        manager.get_connection().execute_unprepared(statement).await?;
    }
    Ok(())
}
