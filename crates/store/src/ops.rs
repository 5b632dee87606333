//! The op log: the ordered changes the derived indexes (tantivy, vectors) must apply.
//!
//! Each derived index remembers the last `seq` it applied; at start-up it asks for
//! `ops_after(that_seq)` and replays them. An 'add' for a chunk that is gone by then is skipped
//! (`chunks_for_replay` only returns live chunks). Once both indexes are past a `seq`, the ops
//! up to it can be pruned.

use docent_types::{ChunkId, DocId};
use sqlx::sqlite::SqliteRow;

use crate::Store;
use crate::error::{QueryContext, StoreError};
use crate::rows::{self, column, to_sql_integer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Add,
    Remove,
}

impl OpKind {
    /// The name stored in the `ops.kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Remove => "remove",
        }
    }

    pub fn parse(name: &str) -> Option<OpKind> {
        match name {
            "add" => Some(OpKind::Add),
            "remove" => Some(OpKind::Remove),
            _ => None,
        }
    }
}

/// One entry of the op log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub seq: u64,
    pub kind: OpKind,
    pub chunk_id: ChunkId,
    pub doc_id: DocId,
}

fn op_from_row(row: &SqliteRow) -> Result<Op, StoreError> {
    let kind: String = column(row, "kind")?;
    let Some(kind) = OpKind::parse(&kind) else {
        return Err(StoreError::InvalidValue {
            what: "op kind",
            value: kind,
        });
    };
    Ok(Op {
        seq: rows::u64_column(row, "seq")?,
        kind,
        chunk_id: column(row, "chunk_id")?,
        doc_id: column(row, "doc_id")?,
    })
}

impl Store {
    /// The highest `seq` ever logged, 0 when none. Pruning does not lower it: it is read from
    /// SQLite's AUTOINCREMENT counter, not from the rows left in the log.
    pub async fn max_seq(&self) -> Result<u64, StoreError> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'ops'")
                .fetch_optional(&self.pool)
                .await
                .context("read the last op sequence number")?;
        let seq = seq.unwrap_or(0);
        u64::try_from(seq).map_err(|_| StoreError::InvalidValue {
            what: "op sequence number",
            value: seq.to_string(),
        })
    }

    /// Up to `limit` ops with `seq` greater than `seq`, in order.
    pub async fn ops_after(&self, seq: u64, limit: u32) -> Result<Vec<Op>, StoreError> {
        let found = sqlx::query(
            "SELECT seq, kind, chunk_id, doc_id FROM ops WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(to_sql_integer("op sequence number", seq)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("read the op log")?;
        found.iter().map(op_from_row).collect()
    }

    /// Deletes the ops with `seq <= seq`: call it with the smaller of the sequence numbers the
    /// derived indexes have durably applied. Returns how many ops were deleted.
    pub async fn prune_ops_through(&self, seq: u64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM ops WHERE seq <= ?")
            .bind(to_sql_integer("op sequence number", seq)?)
            .execute(&self.pool)
            .await
            .context("prune the op log")?;
        Ok(deleted.rows_affected())
    }

    /// The highest `seq` that is no longer in the log because it was pruned (0 when nothing
    /// was). A derived index whose applied `seq` is below this cannot catch up by replaying and
    /// must be rebuilt with `live_chunks_after`.
    pub async fn ops_pruned_through(&self) -> Result<u64, StoreError> {
        let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM ops")
            .fetch_one(&self.pool)
            .await
            .context("read the oldest op")?;
        match oldest {
            Some(oldest) => u64::try_from(oldest - 1).map_err(|_| StoreError::InvalidValue {
                what: "op sequence number",
                value: oldest.to_string(),
            }),
            // An empty log holds nothing to replay: everything ever logged was pruned.
            None => self.max_seq().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{all_ops, open_test_store, save_text_document};
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    #[sqlx::test(migrations = "../../migrations")]
    async fn ops_after_pages_in_order(_pool: SqlitePoolOptions, connect: SqliteConnectOptions) {
        let store = open_test_store(connect).await;
        assert_eq!(store.max_seq().await.unwrap(), 0);
        assert!(store.ops_after(0, 10).await.unwrap().is_empty());
        save_text_document(&store, "/d/a.txt", &["1", "2", "3"]).await;
        save_text_document(&store, "/d/a.txt", &["4", "5"]).await;
        let everything = store.ops_after(0, 1000).await.unwrap();
        assert_eq!(everything.len(), 8);
        let seqs: Vec<u64> = everything.iter().map(|op| op.seq).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
        assert_eq!(store.max_seq().await.unwrap(), 8);

        let mut paged = Vec::new();
        let mut seq = 0;
        loop {
            let page = store.ops_after(seq, 3).await.unwrap();
            let Some(last) = page.last() else { break };
            seq = last.seq;
            paged.extend(page);
        }
        assert_eq!(paged, everything);
        assert_eq!(store.ops_after(5, 2).await.unwrap(), everything[5..7]);
        assert_eq!(store.ops_after(3, 0).await.unwrap(), []);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn pruning_keeps_max_seq_and_reports_the_gap(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        assert_eq!(store.ops_pruned_through().await.unwrap(), 0);
        save_text_document(&store, "/d/a.txt", &["1", "2", "3", "4"]).await;
        assert_eq!(store.ops_pruned_through().await.unwrap(), 0);
        assert_eq!(store.prune_ops_through(2).await.unwrap(), 2);
        assert_eq!(store.ops_pruned_through().await.unwrap(), 2);
        let left: Vec<u64> = store
            .ops_after(0, 10)
            .await
            .unwrap()
            .iter()
            .map(|op| op.seq)
            .collect();
        assert_eq!(left, [3, 4]);
        assert_eq!(store.prune_ops_through(100).await.unwrap(), 2);
        assert!(all_ops(&store).await.is_empty());
        assert_eq!(
            store.max_seq().await.unwrap(),
            4,
            "the counter never goes back"
        );
        assert_eq!(store.ops_pruned_through().await.unwrap(), 4);

        // New ops continue after the pruned ones.
        save_text_document(&store, "/d/b.txt", &["5"]).await;
        let ops = store.ops_after(0, 10).await.unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!((ops[0].seq, ops[0].kind), (5, OpKind::Add));
        assert_eq!(store.ops_pruned_through().await.unwrap(), 4);
    }

    #[test]
    fn op_kind_names_round_trip() {
        for kind in [OpKind::Add, OpKind::Remove] {
            assert_eq!(OpKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(OpKind::parse("update"), None);
    }
}
