use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "memory_tags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub memory_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tag: String,
    pub org_id: String,
    /// The memory's `time` (immutable), for time-ordered tag queries.
    pub time: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::memories::Entity", from = "Column::MemoryId", to = "super::memories::Column::Id")]
    Memory,
}

impl Related<super::memories::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Memory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
