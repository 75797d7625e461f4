-- The lean store, SQLite: integer keys (rowids) for orgs, agents, sessions, tags and memories;
-- narrow indexes that end with the key; tags interned per org and indexed by (tag, time) in a
-- WITHOUT ROWID table; counters for stats. Times are microseconds since the Unix epoch.
-- The first schema's tables were renamed to v0_* before this runs; their rows are copied after.

CREATE TABLE orgs (
    key        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    -- the per-org commit sequence: the last value given to a memory of the org (memories.seq)
    last_seq   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    org_key     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_by_org ON api_keys (org_key, created_at);

-- AUTOINCREMENT: the key of a deleted agent (or session, memory) is never given again.
CREATE TABLE agents (
    key            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    org_key        INTEGER NOT NULL,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    config         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER
);
CREATE UNIQUE INDEX agents_by_name ON agents (org_key, name);
CREATE INDEX agents_by_created ON agents (org_key, created_at, id);

CREATE TABLE sessions (
    key        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    org_key    INTEGER NOT NULL,
    agent_key  INTEGER NOT NULL,
    status     TEXT NOT NULL,
    metadata   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at  INTEGER
);
CREATE INDEX sessions_by_agent ON sessions (agent_key, created_at, id);
CREATE INDEX sessions_by_org ON sessions (org_key, created_at, id);

-- Tag names of an org. Never deleted, so a name's key never changes.
CREATE TABLE tags (
    key     INTEGER PRIMARY KEY,
    org_key INTEGER NOT NULL,
    name    TEXT NOT NULL
);
CREATE UNIQUE INDEX tags_by_name ON tags (org_key, name);

CREATE TABLE memories (
    -- the integer key: follows creation order; a full-text rowid and an ANN key. The public id
    -- is derived from it and created_at (engram_core::ids::memory_id_of)
    key              INTEGER PRIMARY KEY AUTOINCREMENT,
    org_key          INTEGER NOT NULL,
    agent_key        INTEGER NOT NULL,
    session_key      INTEGER,
    -- 1 episodic, 2 decision, 3 entity, 4 session, 5 semantic, 6 state, 7 action, 8 interaction
    memory_type      INTEGER NOT NULL,
    event_type       TEXT NOT NULL,
    content          TEXT NOT NULL,
    metadata         TEXT NOT NULL,
    -- the tag names, a sorted JSON array (memory_tags indexes them)
    tags             TEXT NOT NULL,
    importance       REAL NOT NULL,
    parent_id        TEXT,
    -- a client's dedup key; NULL when derived from (agent id, event type, content)
    dedup_key        TEXT,
    dedup_hash       INTEGER NOT NULL,
    time             INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    step             INTEGER,
    pos_x            REAL,
    pos_y            REAL,
    pos_z            REAL,
    expires_at       INTEGER,
    -- the org's commit sequence when the row was last written (orgs.last_seq)
    seq              INTEGER NOT NULL,
    access_count     INTEGER NOT NULL DEFAULT 0,
    last_accessed_at INTEGER,
    -- memory lifecycle tier (0: the default tier)
    tier             INTEGER NOT NULL DEFAULT 0,
    -- 0: no embedding wanted, 1: pending, 2: done
    embedding_state  INTEGER NOT NULL DEFAULT 0,
    -- the public id of a memory stored before ids were derived from keys (upgraded stores only)
    legacy_id        TEXT
);
CREATE UNIQUE INDEX memories_by_legacy_id ON memories (legacy_id) WHERE legacy_id IS NOT NULL;
-- Time-ordered reads end with (key, expires_at): cursors and the expiry test need no row.
CREATE INDEX memories_by_agent_time ON memories (agent_key, time, key, expires_at);
CREATE INDEX memories_by_session_time ON memories (session_key, time, key, expires_at) WHERE session_key IS NOT NULL;
CREATE INDEX memories_by_org_time ON memories (org_key, time, key, expires_at);
CREATE INDEX memories_by_org_seq ON memories (org_key, seq);
-- errors_24h of agent stats (the list is engram_core::ERROR_EVENT_TYPES)
CREATE INDEX memories_errors_by_agent_time ON memories (agent_key, time, expires_at) WHERE event_type IN ('error', 'test_failure', 'failure', 'exception', 'crash');
-- expiry corrections of the counters: memories that expire
CREATE INDEX memories_expiring ON memories (agent_key, expires_at, memory_type) WHERE expires_at IS NOT NULL;

CREATE TABLE memory_tags (
    tag_key    INTEGER NOT NULL,
    time       INTEGER NOT NULL,
    memory_key INTEGER NOT NULL,
    PRIMARY KEY (tag_key, time, memory_key)
) WITHOUT ROWID;

-- Dedup hashes (see encode::dedup_hash). On SQLite the writer adds them in sorted bulk passes
-- and keeps the newer ones in memory (store_state 'dedup_flushed_key' says up to which key).
CREATE TABLE memory_dedup (
    hash       INTEGER NOT NULL,
    memory_key INTEGER NOT NULL,
    PRIMARY KEY (hash, memory_key)
) WITHOUT ROWID;

-- Stored memories per agent and type, kept in the write transactions (expired ones included
-- until deleted: readers subtract them with memories_expiring).
CREATE TABLE memory_counts (
    agent_key   INTEGER NOT NULL,
    memory_type INTEGER NOT NULL,
    org_key     INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (agent_key, memory_type)
) WITHOUT ROWID;

CREATE TABLE store_state (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
