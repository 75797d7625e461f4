use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "memories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub agent_id: String,
    pub session_id: Option<String>,
    pub memory_type: String,
    pub event_type: String,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    /// `content` lowercased with Unicode rules, for case-insensitive `content_contains`.
    #[sea_orm(column_type = "Text")]
    pub content_lower: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    /// JSON array of strings; `memory_tags` indexes them.
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    #[sea_orm(column_type = "Double")]
    pub importance: f64,
    pub parent_id: Option<String>,
    pub dedup_key: String,
    pub time: i64,
    pub created_at: i64,
    pub step: Option<i64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub pos_x: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub pos_y: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub pos_z: Option<f64>,
    pub expires_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
