-- Conversations with the model: what `docent chat` and the desktop app list and resume.

CREATE TABLE conversations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,          -- unix seconds
    updated_at  INTEGER NOT NULL
);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role             TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    content          TEXT    NOT NULL,
    citations        TEXT    NOT NULL DEFAULT '[]',  -- JSON array, as the engine writes it
    found            INTEGER,                        -- assistant turns: 1 when sources were found
    created_at       INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
