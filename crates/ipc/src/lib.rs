//! The messages between Docent's desktop shell (`src-tauri`) and its page (`ui/`).
//!
//! Every type here derives `ts_rs::TS`; `ui/src/bindings/` holds the generated TypeScript, and
//! the test `bindings_are_current` fails when those files no longer match these types
//! (regenerate with `UPDATE_BINDINGS=1 cargo test -p docent-ipc`).
//!
//! Field names are camelCase on the wire. Paths travel as strings; the shell checks every path
//! it receives against the folders the user added.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Broadcast event names, as `listen()` on the page spells them.
pub mod events {
    /// Payload [`super::IndexProgress`]: the indexing queue's state, at most ~10 per second.
    pub const INDEX_PROGRESS: &str = "index-progress";
    /// Payload [`super::LibraryChanged`]: documents or folders changed; reload the lists.
    pub const LIBRARY_CHANGED: &str = "library-changed";
    /// Payload [`super::ModelInfo`]: the answer model changed (settings or a dropped `.gguf`).
    pub const MODEL_CHANGED: &str = "model-changed";
    /// Payload [`super::Notice`]: something the user should read (a dropped file that could
    /// not be added, a watcher error).
    pub const NOTICE: &str = "notice";
}

/// What the page needs at start-up.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    /// No document and no conversation yet: show the welcome.
    pub first_run: bool,
    pub model: ModelInfo,
    /// The embedding model (needed to index and search) is in the models folder.
    pub embed_model_present: bool,
    pub models_dir: String,
    /// The shell command that fetches the default models.
    pub setup_command: String,
    /// Devices this build can run the model on: always "auto" and "cpu", plus "cuda" or
    /// "metal" when built with one.
    pub devices: Vec<Device>,
    pub cores: u32,
    pub settings: Settings,
}

/// The answer model: what the settings page shows.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub path: String,
    /// File name without the folder.
    pub name: String,
    pub present: bool,
    #[ts(type = "number | null")]
    pub size_bytes: Option<u64>,
    /// The weights' dominant quantization, as llama.cpp names it ("Q4_1", "Q8_0").
    pub quantization: Option<String>,
    pub architecture: Option<String>,
    pub context_length: Option<u32>,
    /// Weights plus the KV cache at the context Docent uses.
    #[ts(type = "number | null")]
    pub estimated_ram_bytes: Option<u64>,
    /// Why the file cannot be used (missing, not a GGUF, truncated...).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Auto,
    Cpu,
    Cuda,
    Metal,
}

/// User settings, stored in the library's database. The answer model is not among them: it
/// changes only through the native file dialog (`pick_model`) or a dropped `.gguf`, so the page
/// can never point the app at a file of its choosing. Unknown fields are refused, so a page that
/// sends a `modelPath` learns that it cannot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    pub device: Device,
    /// CPU threads for the model; 0 = all cores.
    pub threads: u32,
    /// 0 = greedy.
    pub temperature: f32,
    /// Passages given to the model.
    pub top_k: u32,
    /// Chunk size in embedding tokens; applies to files indexed after the change.
    pub chunk_tokens: u32,
}

/// A folder the user added.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FolderInfo {
    pub path: String,
    /// Changes inside are picked up automatically.
    pub watching: bool,
    pub documents: u32,
    /// False when the folder is gone from disk.
    pub exists: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum DocStatus {
    Pending,
    Indexed,
    Skipped,
    Failed,
}

/// One row of the library view.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DocumentInfo {
    #[ts(type = "number")]
    pub id: i64,
    pub path: String,
    /// File name without the folder.
    pub name: String,
    pub title: Option<String>,
    /// "pdf", "docx", "html", "markdown", "text", "code"; null when unsupported.
    pub doc_type: Option<String>,
    #[ts(type = "number")]
    pub size_bytes: u64,
    pub pages: u32,
    pub chunks: u32,
    pub status: DocStatus,
    /// Why the file was skipped or failed, in words.
    pub reason: Option<String>,
    /// Unix seconds of the last outcome.
    #[ts(type = "number")]
    pub indexed_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum IndexState {
    /// Walking folders.
    Scanning,
    Indexing,
    /// Held by the user; resumes where it stopped.
    Paused,
    /// Writing the search indexes.
    Committing,
    Done,
    Cancelled,
    Failed,
}

/// A snapshot of the indexing queue, sent as the [`events::INDEX_PROGRESS`] event.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IndexProgress {
    /// Grows by one per indexing run.
    pub job: u32,
    /// Runs waiting behind this one.
    pub queued: u32,
    pub state: IndexState,
    /// What was added, in words ("3 files", "Papers").
    pub label: String,
    pub files_done: u32,
    pub files_total: u32,
    #[ts(type = "number")]
    pub bytes_done: u64,
    #[ts(type = "number")]
    pub bytes_total: u64,
    pub current_file: Option<String>,
    /// Seconds left, once enough is done to tell.
    pub eta_seconds: Option<f64>,
    pub indexed: u32,
    pub unchanged: u32,
    pub skipped: u32,
    pub failed: u32,
    /// The error that stopped the run (state "failed").
    pub message: Option<String>,
}

/// The [`events::LIBRARY_CHANGED`] payload.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LibraryChanged {
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

/// The [`events::NOTICE`] payload.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

/// What "Add folder…" / "Add files…" picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum PickKind {
    Folder,
    Files,
}

/// A passage: a search result or a source given to the model.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Passage {
    /// The number the model saw it under ([1], [2]...); 0 for search results.
    pub n: u32,
    pub path: String,
    pub name: String,
    pub title: Option<String>,
    pub page: Option<u32>,
    pub line_start: Option<u32>,
    pub line_end: Option<u32>,
    pub text: String,
    /// Search results: the fused score (higher is better); 0 for sources.
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    pub query: String,
    /// The query's words, lower-cased, for highlighting matches in the snippets.
    pub terms: Vec<String>,
    pub results: Vec<Passage>,
}

/// Streamed over the `ask` command's channel while an answer is produced.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AnswerEvent {
    /// What is happening before the first token.
    Stage { stage: AnswerStage },
    /// Text to append to the answer.
    Token { text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum AnswerStage {
    Retrieving,
    LoadingModel,
    Generating,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AnswerTimings {
    pub retrieve_ms: f64,
    pub prompt_tokens: u32,
    pub first_token_ms: f64,
    pub tokens_per_s: f64,
}

/// The `ask` command's result, once the answer is complete (or stopped).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AnswerResult {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub question: String,
    pub answer: String,
    /// The passages the answer cites, by their [n].
    pub citations: Vec<Passage>,
    /// Every passage the model was given (the closest passages when nothing was found).
    pub sources: Vec<Passage>,
    /// False when the model cited nothing: `sources` were its context.
    pub cited: bool,
    /// Where `citations` came from: the model's own `[n]` markers, or (when it wrote none)
    /// the sources Docent matched to the answer's sentences.
    pub citation_mode: CitationMode,
    /// False when the library holds nothing relevant: the answer is "I couldn't find this in
    /// your documents." and the model was not called.
    pub found: bool,
    /// The user pressed Stop.
    pub stopped: bool,
    /// The question's words, lower-cased, for highlighting matches in the passages.
    pub terms: Vec<String>,
    pub timings: AnswerTimings,
    /// What Docent took out of the model's output before sending it (images, links' URLs, raw
    /// HTML, special-token strings): `answer` and the streamed tokens are the neutralised text.
    pub removed: Vec<RemovedItem>,
}

/// One thing taken out of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RemovedItem {
    pub kind: RemovedKind,
    /// What the model wrote (at most 200 characters): shown as text, never rendered.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum RemovedKind {
    Image,
    Link,
    Html,
    SpecialToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum CitationMode {
    /// The model wrote `[n]` markers.
    Model,
    /// The model cited nothing; Docent matched the answer's sentences to sources.
    Attributed,
    /// Nothing cited or matched (or nothing found).
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConversationInfo {
    #[ts(type = "number")]
    pub id: i64,
    pub title: String,
    /// Unix seconds.
    #[ts(type = "number")]
    pub created_at: i64,
    #[ts(type = "number")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessageInfo {
    #[ts(type = "number")]
    pub id: i64,
    pub role: Role,
    pub content: String,
    /// Assistant turns: the passages cited (or given as context).
    pub citations: Vec<Passage>,
    /// Assistant turns: false for "I couldn't find this in your documents".
    pub found: Option<bool>,
    #[ts(type = "number")]
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// A model file is missing: show the setup command.
    ModelMissing,
    /// A path outside the user's folders, or a link that is not https.
    NotAllowed,
    /// Bad input from the page (an empty question, an unknown conversation).
    Invalid,
    /// Another piece of work holds what this needs.
    Busy,
    Io,
    Internal,
}

/// Every command's error.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Every exported type's TypeScript declaration, as `ui/src/bindings/<Name>.ts` holds it.
pub fn bindings() -> Vec<(String, String)> {
    let cfg = ts_rs::Config::default();
    macro_rules! all {
        ($($t:ty),* $(,)?) => {
            vec![$((<$t as TS>::name(&cfg), <$t as TS>::export_to_string(&cfg).expect("ts-rs export"))),*]
        };
    }
    all![
        AppInfo,
        ModelInfo,
        Device,
        Settings,
        FolderInfo,
        DocStatus,
        DocumentInfo,
        IndexState,
        IndexProgress,
        LibraryChanged,
        NoticeLevel,
        Notice,
        PickKind,
        Passage,
        SearchResponse,
        AnswerEvent,
        AnswerStage,
        AnswerTimings,
        AnswerResult,
        RemovedItem,
        RemovedKind,
        CitationMode,
        ConversationInfo,
        Role,
        MessageInfo,
        ErrorKind,
        ApiError,
    ]
}
