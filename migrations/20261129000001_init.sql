-- Docent's source of truth. tantivy and the vector index are derived from these tables and
-- record the `ops.seq` they reflect; at start-up they replay what they missed.

CREATE TABLE documents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    path        TEXT    NOT NULL UNIQUE,      -- absolute, as canonicalised at indexing time
    size        INTEGER NOT NULL,             -- bytes
    mtime_ns    INTEGER NOT NULL,             -- modification time, nanoseconds since the epoch
    hash        TEXT,                         -- blake3 of the content, hex; NULL when never read
    doc_type    TEXT,                         -- DocType::as_str(); NULL when unsupported
    title       TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'indexed', 'skipped', 'failed')),
    reason      TEXT,                         -- why skipped or failed, in words
    pages       INTEGER NOT NULL DEFAULT 0,
    n_chunks    INTEGER NOT NULL DEFAULT 0,
    indexed_at  INTEGER NOT NULL              -- unix seconds of the last outcome
);
CREATE INDEX documents_hash ON documents(hash);
CREATE INDEX documents_status ON documents(status);

-- Chunk ids are never reused (AUTOINCREMENT), so a derived index holding a stale id is harmless:
-- every hit is joined back to this table.
CREATE TABLE chunks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal      INTEGER NOT NULL,
    text         TEXT    NOT NULL,
    page         INTEGER,
    line_start   INTEGER,
    line_end     INTEGER,
    char_start   INTEGER NOT NULL,
    char_end     INTEGER NOT NULL,
    heading_path TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings, outermost first
    n_tokens     INTEGER NOT NULL,
    embedding    BLOB    NOT NULL,              -- f32 little-endian, model dimension
    UNIQUE (doc_id, ordinal)
);

-- The ordered log of changes the derived indexes must apply: 'add' a chunk, 'remove' a chunk.
-- An 'add' for a chunk that no longer exists is skipped on replay.
CREATE TABLE ops (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT    NOT NULL CHECK (kind IN ('add', 'remove')),
    chunk_id INTEGER NOT NULL,
    doc_id   INTEGER NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
