-- Copies the first schema's rows into the lean store (both backends; {v0} is where the old tables
-- are: "v0_" on SQLite, "engram_v0." on PostgreSQL). Memories are copied by the migration's Rust
-- code between the agents/sessions/tags statements and the memory_tags ones (their dedup hashes are
-- computed in Rust); every step keeps creation order, so new keys follow the old ids' order.

INSERT INTO orgs (id, name, created_at)
SELECT id, name, created_at FROM {v0}orgs ORDER BY created_at, id;

INSERT INTO api_keys (id, org_key, name, digest, permissions, created_at, expires_at, revoked_at)
SELECT k.id, o.key, k.name, k.digest, k.permissions, k.created_at, k.expires_at, k.revoked_at
FROM {v0}api_keys k JOIN orgs o ON o.id = k.org_id;

INSERT INTO agents (id, org_key, name, description, config, created_at, last_active_at)
SELECT a.id, o.key, a.name, a.description, a.config, a.created_at, a.last_active_at
FROM {v0}agents a JOIN orgs o ON o.id = a.org_id ORDER BY a.created_at, a.id;

INSERT INTO sessions (id, org_key, agent_key, status, metadata, created_at, updated_at, closed_at)
SELECT s.id, o.key, a.key, s.status, s.metadata, s.created_at, s.updated_at, s.closed_at
FROM {v0}sessions s JOIN orgs o ON o.id = s.org_id JOIN agents a ON a.id = s.agent_id
ORDER BY s.created_at, s.id;

INSERT INTO tags (org_key, name)
SELECT DISTINCT o.key, t.tag FROM {v0}memory_tags t JOIN orgs o ON o.id = t.org_id ORDER BY o.key, t.tag;

-- (memories: Rust)

INSERT INTO memory_tags (tag_key, time, memory_key)
SELECT tg.key, m.time, m.key
FROM {v0}memory_tags t JOIN memories m ON m.legacy_id = t.memory_id JOIN tags tg ON tg.org_key = m.org_key AND tg.name = t.tag;

INSERT INTO memory_dedup (hash, memory_key) SELECT dedup_hash, key FROM memories;

INSERT INTO memory_counts (agent_key, memory_type, org_key, count)
SELECT agent_key, memory_type, org_key, count(*) FROM memories GROUP BY agent_key, memory_type, org_key;

UPDATE orgs SET last_seq = (SELECT count(*) FROM memories WHERE memories.org_key = orgs.key);

INSERT INTO store_state (name, value) SELECT 'dedup_flushed_key', coalesce(max(key), 0) FROM memories;
