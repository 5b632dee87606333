//! The BM25 index: one tantivy document per chunk.
//!
//! The chunk text, the document title and a tokenized copy of the path are searched together
//! (title and path weigh less, since they repeat on every chunk of a document). A raw copy of the
//! path and the document type are indexed as single terms for filtering. Queries are user text
//! turned into plain term queries, so there is no query syntax that could fail to parse.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use docent_types::{ChunkId, DocId, DocType};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, InvertedIndexRangeQuery, Occur, Query,
    TermQuery,
};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, NumericOptions, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::{IndexError, Scored};

/// tantivy's built-in English analyser: SimpleTokenizer, RemoveLongFilter(40), LowerCaser,
/// Stemmer(English). Being built in, it is registered on every index without our help.
const ANALYZER: &str = "en_stem";
/// One indexing thread with a modest arena: the writer shares the machine with parsing and
/// embedding, and chunks arrive in small batches anyway.
const WRITER_THREADS: usize = 1;
const WRITER_MEMORY_BYTES: usize = 64_000_000;
/// Titles and paths repeat on every chunk of a document, and a word in a short title scores
/// about 1.4 times the same word in a passage. At these weights a word found only in a title
/// and path still ranks below a passage that contains it: they help rank, but must not drown the
/// text that actually answers.
const TITLE_BOOST: f32 = 0.4;
const PATH_BOOST: f32 = 0.2;
/// A pasted megabyte of text is a legal question; past this many distinct terms the rest add
/// cost and hardly any ranking signal.
const MAX_QUERY_TERMS: usize = 64;

/// A chunk as the BM25 index sees it; everything is borrowed from the caller's rows.
#[derive(Debug, Clone, Copy)]
pub struct Bm25Doc<'a> {
    pub chunk_id: ChunkId,
    pub doc_id: DocId,
    pub path: &'a str,
    pub title: &'a str,
    pub doc_type: DocType,
    pub text: &'a str,
}

/// Narrows a search. `path_prefix` is a plain string prefix of the document path (pass
/// `"/notes/"` rather than `"/notes"` to exclude `/notes-old`); empty `doc_types` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub path_prefix: Option<String>,
    pub doc_types: Vec<DocType>,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    chunk_id: Field,
    doc_id: Field,
    text: Field,
    title: Field,
    path_text: Field,
    path_raw: Field,
    doc_type: Field,
}

const CHUNK_ID_FIELD: &str = "chunk_id";

fn build_schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let analysed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let chunk_id = builder.add_i64_field(
        CHUNK_ID_FIELD,
        NumericOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored(),
    );
    let doc_id = builder.add_i64_field("doc_id", NumericOptions::from(INDEXED).set_fast());
    let text = builder.add_text_field("text", analysed.clone());
    let title = builder.add_text_field("title", analysed.clone());
    let path_text = builder.add_text_field("path", analysed);
    let path_raw = builder.add_text_field("path_raw", STRING);
    let doc_type = builder.add_text_field("doc_type", STRING);
    let fields = Fields {
        chunk_id,
        doc_id,
        text,
        title,
        path_text,
        path_raw,
        doc_type,
    };
    (builder.build(), fields)
}

/// A tantivy index of chunks with one long-lived writer.
///
/// Writes (`add`, `remove_chunks`, `clear`) are staged until [`Bm25Index::commit`], which also
/// records the op-log `seq` they reflect; searches see the last commit only. A crash before the
/// commit loses the staged writes and nothing else.
pub struct Bm25Index {
    dir: PathBuf,
    fields: Fields,
    /// `None` when opened read-only: searches work, writes fail with [`IndexError::ReadOnly`].
    writer: Option<IndexWriter<TantivyDocument>>,
    reader: IndexReader,
    analyzer: TextAnalyzer,
    applied_seq: u64,
}

impl std::fmt::Debug for Bm25Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25Index")
            .field("dir", &self.dir)
            .field("applied_seq", &self.applied_seq)
            .finish_non_exhaustive()
    }
}

impl Bm25Index {
    /// Opens the index in `dir`, creating the folder and an empty index when there is none.
    ///
    /// An index that exists but cannot be read (bad `meta.json`, missing or truncated segment
    /// files, another schema, an unreadable commit payload) is [`IndexError::Damaged`]: wipe it
    /// with [`Bm25Index::recreate`] and rebuild from the store.
    pub fn open(dir: &Path) -> Result<Bm25Index, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::WithPath {
            path: dir.to_path_buf(),
            source,
        })?;
        Bm25Index::open_existing_folder(dir, true).map_err(|error| classify_open_error(dir, error))
    }

    /// Opens the index in `dir` for searching only, without taking the writer lock (which
    /// needs a file it can write): for a data folder on a read-only disk or without write
    /// permission. A missing or damaged index is an error here, since it cannot be rebuilt.
    pub fn open_read_only(dir: &Path) -> Result<Bm25Index, IndexError> {
        Bm25Index::open_existing_folder(dir, false).map_err(|error| classify_open_error(dir, error))
    }

    /// Deletes whatever is in `dir` and opens a new, empty index there (`applied_seq` 0).
    /// Drop any open [`Bm25Index`] on `dir` first: its writer holds a lock on the folder.
    pub fn recreate(dir: &Path) -> Result<Bm25Index, IndexError> {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(IndexError::WithPath {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
        tracing::info!(dir = %dir.display(), "recreated the BM25 index");
        Bm25Index::open(dir)
    }

    fn open_existing_folder(dir: &Path, writable: bool) -> Result<Bm25Index, OpenError> {
        let (schema, fields) = build_schema();
        let directory = MmapDirectory::open(dir).map_err(TantivyError::from)?;
        let index = if writable {
            Index::open_or_create(directory, schema)?
        } else {
            Index::open(directory)?
        };
        let applied_seq = match index.load_metas()?.payload {
            None => 0,
            Some(payload) => payload
                .trim()
                .parse::<u64>()
                .map_err(|_| OpenError::Payload(payload))?,
        };
        // Opening the reader opens every segment, so missing or truncated files show up here
        // rather than at the first search.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = if writable {
            Some(index.writer_with_num_threads(WRITER_THREADS, WRITER_MEMORY_BYTES)?)
        } else {
            None
        };
        let analyzer = index
            .tokenizers()
            .get(ANALYZER)
            .ok_or(OpenError::Analyzer)?;
        Ok(Bm25Index {
            dir: dir.to_path_buf(),
            fields,
            writer,
            reader,
            analyzer,
            applied_seq,
        })
    }

    /// Stages `docs`. A chunk id that is already indexed (committed or staged) is replaced, never
    /// duplicated.
    pub fn add(&mut self, docs: &[Bm25Doc<'_>]) -> Result<(), IndexError> {
        let fields = self.fields;
        let dir = self.dir.clone();
        let writer = self.writer_mut()?;
        for doc in docs {
            writer.delete_term(Term::from_field_i64(fields.chunk_id, doc.chunk_id));
            let mut document = TantivyDocument::default();
            document.add_i64(fields.chunk_id, doc.chunk_id);
            document.add_i64(fields.doc_id, doc.doc_id);
            document.add_text(fields.text, doc.text);
            document.add_text(fields.title, doc.title);
            document.add_text(fields.path_text, doc.path);
            document.add_text(fields.path_raw, doc.path);
            document.add_text(fields.doc_type, doc.doc_type.as_str());
            writer
                .add_document(document)
                .map_err(|source| IndexError::Tantivy {
                    path: dir.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Stages the removal of `chunk_ids`; ids that are not indexed are ignored.
    pub fn remove_chunks(&mut self, chunk_ids: &[ChunkId]) -> Result<(), IndexError> {
        let field = self.fields.chunk_id;
        let writer = self.writer_mut()?;
        for &chunk_id in chunk_ids {
            writer.delete_term(Term::from_field_i64(field, chunk_id));
        }
        Ok(())
    }

    /// Stages the removal of every chunk, for a rebuild: add everything again, then commit. Until
    /// that commit, searches (and a crash) still see the old contents.
    pub fn clear(&mut self) -> Result<(), IndexError> {
        let dir = self.dir.clone();
        self.writer_mut()?
            .delete_query(Box::new(AllQuery))
            .map_err(|source| IndexError::Tantivy { path: dir, source })?;
        Ok(())
    }

    /// Makes the staged writes durable and visible, recording `seq` as the last op-log entry they
    /// reflect. After an error the index must be reopened.
    pub fn commit(&mut self, seq: u64) -> Result<(), IndexError> {
        let reader = self.reader.clone();
        let writer = self.writer_mut()?;
        let result = (|| {
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&seq.to_string());
            // Segments are written, meta.json not yet switched: the crash campaign kills here.
            docent_types::fault::point(docent_types::fault::TANTIVY_COMMIT);
            prepared.commit()?;
            reader.reload()
        })();
        result.map_err(|source| self.tantivy_error(source))?;
        self.applied_seq = seq;
        tracing::debug!(
            seq,
            n_chunks = self.num_chunks(),
            "committed the BM25 index"
        );
        Ok(())
    }

    /// The op-log `seq` of the last commit; 0 for a new index.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    /// Chunks visible to searches (the last commit).
    pub fn num_chunks(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The best `k` chunks for `query`, best first. Any text is a valid query: it is split into
    /// terms with the indexing analyser, and a chunk matches when it has any of them in its
    /// text, title or path. A query without terms (empty, only punctuation) matches nothing.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Scored>, IndexError> {
        let searcher = self.reader.searcher();
        // The collector reserves room for `k` hits up front, so a huge `k` must not reach it.
        let k = k.min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        if k == 0 {
            return Ok(Vec::new());
        }
        let terms = self.query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 3);
        for term in &terms {
            for (field, boost) in [
                (self.fields.text, 1.0),
                (self.fields.title, TITLE_BOOST),
                (self.fields.path_text, PATH_BOOST),
            ] {
                let term_query = Box::new(TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                ));
                let query: Box<dyn Query> = if boost == 1.0 {
                    term_query
                } else {
                    Box::new(BoostQuery::new(term_query, boost))
                };
                should.push((Occur::Should, query));
            }
        }
        let matching: Box<dyn Query> = Box::new(BooleanQuery::new(should));
        let query: Box<dyn Query> = match self.filter_query(filter) {
            None => matching,
            // The filter must not change scores, only which chunks may match.
            Some(filter_query) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, matching),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(filter_query, 0.0)),
                ),
            ])),
        };

        let top_docs = searcher
            .search(&query, &TopDocs::with_limit(k).order_by_score())
            .map_err(|source| self.tantivy_error(source))?;
        let mut chunk_id_columns = HashMap::new();
        let mut hits = Vec::with_capacity(top_docs.len());
        for (score, address) in top_docs {
            let column = match chunk_id_columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .i64(CHUNK_ID_FIELD)
                        .map_err(|source| self.tantivy_error(source))?,
                ),
            };
            if let Some(chunk_id) = column.first(address.doc_id) {
                hits.push(Scored { chunk_id, score });
            }
        }
        Ok(hits)
    }

    /// The distinct analysed terms of `query`, in order of first appearance. One pass with a
    /// set: the cost is linear in the query's length whatever its shape.
    fn query_terms(&self, query: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(query);
        let mut terms: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        while stream.advance() {
            let text = &stream.token().text;
            if !text.is_empty() && !seen.contains(text) {
                seen.insert(text.clone());
                terms.push(text.clone());
                if terms.len() == MAX_QUERY_TERMS {
                    break;
                }
            }
        }
        terms
    }

    fn filter_query(&self, filter: &Filter) -> Option<Box<dyn Query>> {
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(prefix) = filter.path_prefix.as_deref().filter(|p| !p.is_empty()) {
            must.push((Occur::Must, Box::new(self.path_prefix_query(prefix))));
        }
        if !filter.doc_types.is_empty() {
            let any_type: Vec<(Occur, Box<dyn Query>)> = filter
                .doc_types
                .iter()
                .map(|doc_type| {
                    let query: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(self.fields.doc_type, doc_type.as_str()),
                        IndexRecordOption::Basic,
                    ));
                    (Occur::Should, query)
                })
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(any_type))));
        }
        if must.is_empty() {
            None
        } else {
            Some(Box::new(BooleanQuery::new(must)))
        }
    }

    /// Paths starting with `prefix` are exactly the raw path terms in `[prefix, successor)`,
    /// where the successor bumps the last byte. A range needs no escaping, unlike a regex.
    fn path_prefix_query(&self, prefix: &str) -> InvertedIndexRangeQuery {
        let lower = Bound::Included(Term::from_field_text(self.fields.path_raw, prefix));
        // UTF-8 never contains 0xFF, so the last byte of a non-empty string can be bumped.
        let mut successor = prefix.as_bytes().to_vec();
        let last = successor.last_mut().expect("the prefix is not empty");
        *last += 1;
        // The range compares raw term bytes, so a bytes term works as the (non-UTF-8) bound.
        let upper = Bound::Excluded(Term::from_field_bytes(self.fields.path_raw, &successor));
        InvertedIndexRangeQuery::new(lower, upper)
    }

    fn writer_mut(&mut self) -> Result<&mut IndexWriter<TantivyDocument>, IndexError> {
        self.writer.as_mut().ok_or_else(|| IndexError::ReadOnly {
            path: self.dir.clone(),
        })
    }

    fn tantivy_error(&self, source: TantivyError) -> IndexError {
        IndexError::Tantivy {
            path: self.dir.clone(),
            source,
        }
    }
}

/// Why opening an existing folder failed, before deciding whether it is damage.
enum OpenError {
    Tantivy(TantivyError),
    Payload(String),
    Analyzer,
}

impl From<TantivyError> for OpenError {
    fn from(error: TantivyError) -> OpenError {
        OpenError::Tantivy(error)
    }
}

/// Everything that goes wrong while opening an index that is there counts as damage, except a
/// writer lock held elsewhere and disk faults that a rebuild would hit too. Calling a disk fault
/// damage costs a needless rebuild; calling damage a disk fault would stop the app from starting.
fn classify_open_error(dir: &Path, error: OpenError) -> IndexError {
    let damaged = |reason: String| {
        tracing::warn!(dir = %dir.display(), %reason, "the BM25 index is damaged");
        IndexError::Damaged {
            path: dir.to_path_buf(),
            reason,
        }
    };
    match error {
        OpenError::Payload(payload) => damaged(format!("unreadable commit payload {payload:?}")),
        OpenError::Analyzer => damaged(format!("the {ANALYZER} analyser is missing")),
        OpenError::Tantivy(TantivyError::LockFailure(..)) => IndexError::Locked {
            path: dir.to_path_buf(),
        },
        OpenError::Tantivy(TantivyError::IoError(io_error)) if is_disk_fault(&io_error) => {
            IndexError::WithPath {
                path: dir.to_path_buf(),
                source: std::io::Error::new(io_error.kind(), io_error.to_string()),
            }
        }
        OpenError::Tantivy(other) => damaged(other.to_string()),
    }
}

fn is_disk_fault(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem | ErrorKind::StorageFull
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Chunk {
        chunk_id: ChunkId,
        path: &'static str,
        title: &'static str,
        doc_type: DocType,
        text: &'static str,
    }

    fn chunk(
        chunk_id: ChunkId,
        path: &'static str,
        title: &'static str,
        doc_type: DocType,
        text: &'static str,
    ) -> Chunk {
        Chunk {
            chunk_id,
            path,
            title,
            doc_type,
            text,
        }
    }

    fn add_all(index: &mut Bm25Index, chunks: &[Chunk]) {
        let docs: Vec<Bm25Doc<'_>> = chunks
            .iter()
            .map(|c| Bm25Doc {
                chunk_id: c.chunk_id,
                doc_id: c.chunk_id / 10,
                path: c.path,
                title: c.title,
                doc_type: c.doc_type,
                text: c.text,
            })
            .collect();
        index.add(&docs).unwrap();
    }

    fn library() -> Vec<Chunk> {
        vec![
            chunk(
                1,
                "/home/ada/notes/training-log.md",
                "Training log",
                DocType::Markdown,
                "She runs every morning before work.",
            ),
            chunk(
                2,
                "/home/ada/notes/recipes.md",
                "Recipes",
                DocType::Markdown,
                "Bake the bread at a high temperature for forty minutes.",
            ),
            chunk(
                3,
                "/home/ada/papers/attention.pdf",
                "Attention is all you need",
                DocType::Pdf,
                "The transformer relies on self-attention instead of recurrence.",
            ),
            chunk(
                4,
                "/home/ada/code/parser_utils.rs",
                "parser_utils.rs",
                DocType::Code,
                "fn parse(input: &str) -> Result<Ast, Error> { todo }",
            ),
            chunk(
                5,
                "/home/ada/notes-old/bread.txt",
                "bread",
                DocType::Text,
                "An old note about sourdough starters.",
            ),
        ]
    }

    fn committed_library() -> (tempfile::TempDir, Bm25Index) {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Bm25Index::open(dir.path()).unwrap();
        add_all(&mut index, &library());
        index.commit(1).unwrap();
        (dir, index)
    }

    fn ids(hits: &[Scored]) -> Vec<ChunkId> {
        hits.iter().map(|hit| hit.chunk_id).collect()
    }

    /// Checks the chunk ids found for `query` under `filter`, best first.
    fn check(index: &Bm25Index, query: &str, filter: &Filter, expected: &[ChunkId]) {
        let hits = index.search(query, 10, filter).unwrap();
        assert_eq!(ids(&hits), expected, "query {query:?} with {filter:?}");
        assert!(
            hits.windows(2).all(|pair| pair[0].score >= pair[1].score),
            "hits for {query:?} are not best first: {hits:?}"
        );
    }

    fn no_filter() -> Filter {
        Filter::default()
    }

    #[test]
    fn stemming_matches_other_forms_of_a_word() {
        let (_dir, index) = committed_library();
        check(&index, "running", &no_filter(), &[1]);
        check(&index, "RUN", &no_filter(), &[1]);
        check(&index, "baking", &no_filter(), &[2]);
        check(&index, "transformers", &no_filter(), &[3]);
    }

    #[test]
    fn title_and_path_words_match() {
        let (_dir, index) = committed_library();
        // Only in a title.
        check(&index, "need", &no_filter(), &[3]);
        // Only in a path, split on `/`, `.`, `_` and `-`.
        check(&index, "papers", &no_filter(), &[3]);
        check(&index, "utils", &no_filter(), &[4]);
        check(&index, "log", &no_filter(), &[1]);
        // In text and title: both chunks match, the one with the word in its text first.
        check(&index, "bread", &no_filter(), &[2, 5]);
    }

    #[test]
    fn any_user_text_is_a_valid_query() {
        let (_dir, index) = committed_library();
        for query in [
            "C++ AND (",
            "\"unbalanced",
            ":::",
            "",
            "   ",
            "title:bread",
            "a -b +c ~d ^2 *",
            "(((",
            "[1 TO",
            "\\",
            "' OR 1=1 --",
        ] {
            index.search(query, 10, &no_filter()).unwrap();
        }
        check(&index, "", &no_filter(), &[]);
        check(&index, ":::", &no_filter(), &[]);
        // Operators are words like any other; the real words still match.
        check(&index, "bread AND (", &no_filter(), &[2, 5]);
        check(&index, "\"sourdough", &no_filter(), &[5]);
        check(&index, "parse(input:", &no_filter(), &[4]);
        assert!(index.search("bread", 0, &no_filter()).unwrap().is_empty());
        assert_eq!(
            index
                .search("bread", usize::MAX, &no_filter())
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn huge_queries_are_bounded() {
        let (_dir, index) = committed_library();
        let mut query: String = (0..10_000).map(|i| format!("word{i} ")).collect();
        query.push_str("bread");
        // The tail is past the term cap, so it does not match; what matters is a quick answer.
        assert!(index.search(&query, 10, &no_filter()).unwrap().is_empty());
        let query = format!("bread {}", "word ".repeat(100_000));
        check(&index, &query, &no_filter(), &[2, 5]);
    }

    #[test]
    fn a_query_of_200k_distinct_terms_or_a_megabyte_of_one_word_is_answered() {
        let (_dir, index) = committed_library();
        // The first term matches; the distinct terms after the cap add nothing.
        let mut distinct = String::from("sourdough ");
        for i in 0..200_000 {
            distinct.push_str(&format!("w{i} "));
        }
        distinct.push_str("running");
        check(&index, &distinct, &no_filter(), &[5]);
        assert_eq!(index.query_terms(&distinct).len(), MAX_QUERY_TERMS);
        // A megabyte of one word repeated is one term.
        let repeated = "bread ".repeat(200_000);
        assert_eq!(index.query_terms(&repeated), ["bread"]);
        check(&index, &repeated, &no_filter(), &[2, 5]);
    }

    #[test]
    fn filters_narrow_by_path_prefix_and_doc_type() {
        let (_dir, index) = committed_library();
        let filter = |prefix: Option<&str>, doc_types: &[DocType]| Filter {
            path_prefix: prefix.map(str::to_string),
            doc_types: doc_types.to_vec(),
        };
        check(
            &index,
            "bread",
            &filter(Some("/home/ada/notes/"), &[]),
            &[2],
        );
        // A plain string prefix: `/home/ada/notes` also covers `/home/ada/notes-old`.
        check(
            &index,
            "bread",
            &filter(Some("/home/ada/notes"), &[]),
            &[2, 5],
        );
        check(&index, "bread", &filter(None, &[DocType::Text]), &[5]);
        check(
            &index,
            "bread",
            &filter(None, &[DocType::Text, DocType::Markdown]),
            &[2, 5],
        );
        check(
            &index,
            "bread",
            &filter(Some("/home/ada/notes/"), &[DocType::Text]),
            &[],
        );
        check(&index, "bread", &filter(Some("/elsewhere"), &[]), &[]);
        check(&index, "bread", &filter(Some(""), &[]), &[2, 5]);
        // Regex metacharacters in a prefix are plain characters.
        check(
            &index,
            "bread",
            &filter(Some("/home/ada/notes.*"), &[]),
            &[],
        );
        // A filter never makes a chunk match on its own.
        check(&index, "zebra", &filter(Some("/home/"), &[]), &[]);
    }

    #[test]
    fn filters_do_not_change_scores() {
        let (_dir, index) = committed_library();
        let unfiltered = index.search("bread", 10, &no_filter()).unwrap();
        let filtered = index
            .search(
                "bread",
                10,
                &Filter {
                    path_prefix: Some("/home/".to_string()),
                    doc_types: vec![DocType::Markdown, DocType::Text],
                },
            )
            .unwrap();
        assert_eq!(unfiltered, filtered);
    }

    #[test]
    fn re_adding_a_chunk_replaces_it() {
        let (_dir, mut index) = committed_library();
        add_all(
            &mut index,
            &[chunk(
                2,
                "/home/ada/notes/recipes.md",
                "Recipes",
                DocType::Markdown,
                "Simmer the soup slowly.",
            )],
        );
        // Twice in one batch: the last one wins.
        add_all(
            &mut index,
            &[
                chunk(6, "/a.txt", "", DocType::Text, "first draft"),
                chunk(6, "/a.txt", "", DocType::Text, "second draft"),
            ],
        );
        index.commit(2).unwrap();
        assert_eq!(index.num_chunks(), 6);
        check(&index, "bread", &no_filter(), &[5]);
        check(&index, "soup", &no_filter(), &[2]);
        check(&index, "draft", &no_filter(), &[6]);
        check(&index, "first", &no_filter(), &[]);
    }

    #[test]
    fn removed_chunks_disappear_at_commit() {
        let (_dir, mut index) = committed_library();
        index.remove_chunks(&[2, 99]).unwrap();
        // Staged writes are invisible until the commit.
        check(&index, "bread", &no_filter(), &[2, 5]);
        index.commit(2).unwrap();
        check(&index, "bread", &no_filter(), &[5]);
        assert_eq!(index.num_chunks(), 4);
    }

    #[test]
    fn clear_then_commit_empties_the_index() {
        let (_dir, mut index) = committed_library();
        index.clear().unwrap();
        add_all(
            &mut index,
            &[chunk(7, "/b.txt", "", DocType::Text, "fresh bread")],
        );
        check(&index, "bread", &no_filter(), &[2, 5]);
        index.commit(9).unwrap();
        check(&index, "bread", &no_filter(), &[7]);
        assert_eq!(index.num_chunks(), 1);
        assert_eq!(index.applied_seq(), 9);
    }

    #[test]
    fn committed_seq_survives_a_reopen_and_staged_writes_do_not() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = Bm25Index::open(dir.path()).unwrap();
            assert_eq!(index.applied_seq(), 0);
            assert_eq!(index.num_chunks(), 0);
        }
        {
            let mut index = Bm25Index::open(dir.path()).unwrap();
            add_all(&mut index, &library());
            index.commit(41).unwrap();
            add_all(
                &mut index,
                &[chunk(8, "/c.txt", "", DocType::Text, "uncommitted bread")],
            );
        }
        let index = Bm25Index::open(dir.path()).unwrap();
        assert_eq!(index.applied_seq(), 41);
        assert_eq!(index.num_chunks(), 5);
        check(&index, "bread", &no_filter(), &[2, 5]);
    }

    #[test]
    fn a_second_writer_is_refused() {
        let (dir, _index) = committed_library();
        let error = Bm25Index::open(dir.path()).unwrap_err();
        assert!(matches!(error, IndexError::Locked { .. }), "{error:?}");
    }

    fn assert_damaged(dir: &Path) {
        let error = Bm25Index::open(dir).unwrap_err();
        assert!(matches!(error, IndexError::Damaged { .. }), "{error:?}");
        let index = Bm25Index::recreate(dir).unwrap();
        assert_eq!(index.applied_seq(), 0);
        assert_eq!(index.num_chunks(), 0);
    }

    #[test]
    fn garbage_meta_json_is_damage() {
        let (dir, index) = committed_library();
        drop(index);
        std::fs::write(dir.path().join("meta.json"), b"{not json at all").unwrap();
        assert_damaged(dir.path());
    }

    #[test]
    fn missing_segment_files_are_damage() {
        let (dir, index) = committed_library();
        drop(index);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".idx") || name.ends_with(".term") {
                std::fs::remove_file(&path).unwrap();
            }
        }
        assert_damaged(dir.path());
    }

    #[test]
    fn a_bad_commit_payload_is_damage() {
        let (dir, index) = committed_library();
        drop(index);
        let meta_path = dir.path().join("meta.json");
        let meta = std::fs::read_to_string(&meta_path).unwrap();
        assert!(meta.contains("\"payload\": \"1\""), "{meta}");
        std::fs::write(
            &meta_path,
            meta.replace("\"payload\": \"1\"", "\"payload\": \"x\""),
        )
        .unwrap();
        assert_damaged(dir.path());
    }

    #[test]
    fn empty_or_foreign_folders_open_as_new_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/bm25");
        let index = Bm25Index::open(&nested).unwrap();
        assert_eq!(index.applied_seq(), 0);
    }
}
