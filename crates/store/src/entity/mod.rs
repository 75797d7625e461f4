//! sea-orm entities, one per table (see `migration` for the schema and indexes).

pub mod agents;
pub mod api_keys;
pub mod memories;
pub mod memory_tags;
pub mod orgs;
pub mod sessions;
