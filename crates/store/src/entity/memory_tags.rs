use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "memory_tags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub memory_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tag: String,
    pub org_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
