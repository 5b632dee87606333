//! Conversations and their messages.

use crate::error::QueryContext;
use crate::{Store, StoreError, rows};

/// Row id of a conversation.
pub type ConversationId = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub n_messages: u32,
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    fn parse(name: &str) -> Result<Role, StoreError> {
        match name {
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            other => Err(StoreError::InvalidValue {
                what: "message role",
                value: other.to_owned(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: ConversationId,
    pub role: Role,
    pub content: String,
    /// The engine's citations as JSON; the store does not look inside.
    pub citations_json: String,
    pub found: Option<bool>,
    pub created_at: i64,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    pub async fn create_conversation(&self, title: &str) -> Result<ConversationId, StoreError> {
        let now = now();
        let row = sqlx::query(
            "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?) \
             RETURNING id",
        )
        .bind(title)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .context("create a conversation")?;
        rows::column::<i64>(&row, "id")
    }

    /// Newest activity first.
    pub async fn list_conversations(&self) -> Result<Vec<ConversationRow>, StoreError> {
        let found = sqlx::query(
            "SELECT c.id, c.title, c.created_at, c.updated_at, \
                    (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n \
             FROM conversations c ORDER BY c.updated_at DESC, c.id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .context("list conversations")?;
        found.iter().map(conversation_from_row).collect()
    }

    pub async fn conversation(
        &self,
        id: ConversationId,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let found = sqlx::query(
            "SELECT c.id, c.title, c.created_at, c.updated_at, \
                    (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n \
             FROM conversations c WHERE c.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("read a conversation")?;
        found.as_ref().map(conversation_from_row).transpose()
    }

    /// Returns false when there is no such conversation.
    pub async fn rename_conversation(
        &self,
        id: ConversationId,
        title: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE conversations SET title = ? WHERE id = ?")
            .bind(title)
            .bind(id)
            .execute(&self.pool)
            .await
            .context("rename a conversation")?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a conversation and its messages; false when there was none.
    pub async fn delete_conversation(&self, id: ConversationId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM conversations WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .context("delete a conversation")?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn add_message(
        &self,
        conversation_id: ConversationId,
        role: Role,
        content: &str,
        citations_json: &str,
        found: Option<bool>,
    ) -> Result<i64, StoreError> {
        let now = now();
        let mut tx = self.begin_write("add a message").await?;
        let row = sqlx::query(
            "INSERT INTO messages (conversation_id, role, content, citations, found, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(conversation_id)
        .bind(role.as_str())
        .bind(content)
        .bind(citations_json)
        .bind(found)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("add a message")?;
        sqlx::query("UPDATE conversations SET updated_at = ? WHERE id = ?")
            .bind(now)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await
            .context("touch a conversation")?;
        tx.commit().await.context("commit a message")?;
        rows::column::<i64>(&row, "id")
    }

    /// Oldest first.
    pub async fn messages(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let found = sqlx::query(
            "SELECT id, conversation_id, role, content, citations, found, created_at \
             FROM messages WHERE conversation_id = ? ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .context("read messages")?;
        found
            .iter()
            .map(|row| {
                let role: String = rows::column(row, "role")?;
                let found: Option<i64> = rows::column(row, "found")?;
                Ok(MessageRow {
                    id: rows::column::<i64>(row, "id")?,
                    conversation_id: rows::column::<i64>(row, "conversation_id")?,
                    role: Role::parse(&role)?,
                    content: rows::column(row, "content")?,
                    citations_json: rows::column(row, "citations")?,
                    found: found.map(|f| f != 0),
                    created_at: rows::column::<i64>(row, "created_at")?,
                })
            })
            .collect()
    }
}

fn conversation_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ConversationRow, StoreError> {
    Ok(ConversationRow {
        id: rows::column::<i64>(row, "id")?,
        title: rows::column(row, "title")?,
        created_at: rows::column::<i64>(row, "created_at")?,
        updated_at: rows::column::<i64>(row, "updated_at")?,
        n_messages: rows::u32_column(row, "n")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conversations_keep_their_messages_in_order_and_delete_with_them() {
        let store = Store::open_in_memory().await.unwrap();
        let first = store.create_conversation("Pricing").await.unwrap();
        let second = store.create_conversation("Baking").await.unwrap();
        store
            .add_message(first, Role::User, "what is the price?", "[]", None)
            .await
            .unwrap();
        store
            .add_message(
                first,
                Role::Assistant,
                "12 dollars [1]",
                "[{\"n\":1}]",
                Some(true),
            )
            .await
            .unwrap();

        let messages = store.messages(first).await.unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].role, Role::User);
        assert_eq!(messages[1].content, "12 dollars [1]");
        assert_eq!(messages[1].citations_json, "[{\"n\":1}]");
        assert_eq!(messages[1].found, Some(true));

        let listed = store.list_conversations().await.unwrap();
        assert_eq!(listed.len(), 2);
        let pricing = listed.iter().find(|c| c.id == first).unwrap();
        assert_eq!(pricing.n_messages, 2);

        assert!(
            store
                .rename_conversation(second, "Sourdough")
                .await
                .unwrap()
        );
        assert_eq!(
            store.conversation(second).await.unwrap().unwrap().title,
            "Sourdough"
        );
        assert!(store.delete_conversation(first).await.unwrap());
        assert!(!store.delete_conversation(first).await.unwrap());
        assert!(store.messages(first).await.unwrap().is_empty());
        assert!(store.conversation(first).await.unwrap().is_none());
    }
}
