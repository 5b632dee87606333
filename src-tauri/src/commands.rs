//! The commands the page calls: thin wrappers that move each call onto a blocking thread and
//! into [`Docent`]. Their names are listed in `command_names.rs`.

use docent_ipc::{
    AnswerEvent, AnswerResult, ApiError, AppInfo, ConversationInfo, DocumentInfo, ErrorKind,
    FolderInfo, IndexProgress, MessageInfo, ModelInfo, PickKind, SearchResponse, Settings,
};
use tauri::State;
use tauri::ipc::Channel;

use crate::app::Docent;

type ApiResult<T> = Result<T, ApiError>;

/// Runs `work` on a blocking thread: the engine blocks on its own runtime and on the disk.
async fn blocking<T: Send + 'static>(
    state: State<'_, Docent>,
    work: impl FnOnce(Docent) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let docent = state.inner().clone();
    tauri::async_runtime::spawn_blocking(move || work(docent))
        .await
        .map_err(|error| {
            // A panic is a bug, reported as one; the app's locks survive it (see `locks`), so
            // the next command works.
            let message = match error {
                tauri::Error::JoinError(join) if join.is_panic() => {
                    crate::locks::panic_message(join.into_panic().as_ref())
                }
                other => other.to_string(),
            };
            ApiError::new(
                ErrorKind::Internal,
                format!("Docent hit an internal error and stopped this action: {message}"),
            )
        })?
}

#[tauri::command]
pub async fn app_info(state: State<'_, Docent>) -> ApiResult<AppInfo> {
    blocking(state, |d| d.app_info()).await
}

#[tauri::command]
pub async fn pick_and_add(state: State<'_, Docent>, kind: PickKind) -> ApiResult<Vec<String>> {
    blocking(state, move |d| d.pick_and_add(kind)).await
}

#[tauri::command]
pub async fn list_documents(state: State<'_, Docent>) -> ApiResult<Vec<DocumentInfo>> {
    blocking(state, |d| d.documents()).await
}

#[tauri::command]
pub async fn list_folders(state: State<'_, Docent>) -> ApiResult<Vec<FolderInfo>> {
    blocking(state, |d| d.folders()).await
}

#[tauri::command]
pub async fn set_watching(state: State<'_, Docent>, path: String, watching: bool) -> ApiResult<()> {
    blocking(state, move |d| d.set_watching(&path, watching)).await
}

#[tauri::command]
pub async fn remove_paths(state: State<'_, Docent>, paths: Vec<String>) -> ApiResult<u32> {
    blocking(state, move |d| d.remove_paths(&paths)).await
}

#[tauri::command]
pub async fn reindex(state: State<'_, Docent>, paths: Vec<String>) -> ApiResult<()> {
    blocking(state, move |d| d.reindex(&paths)).await
}

#[tauri::command]
pub fn pause_indexing(state: State<'_, Docent>) {
    state.indexer().pause();
}

#[tauri::command]
pub fn resume_indexing(state: State<'_, Docent>) {
    state.indexer().resume();
}

#[tauri::command]
pub fn cancel_indexing(state: State<'_, Docent>) {
    state.indexer().cancel();
}

#[tauri::command]
pub fn index_state(state: State<'_, Docent>) -> Option<IndexProgress> {
    state.index_state()
}

#[tauri::command]
pub async fn open_path(
    state: State<'_, Docent>,
    path: String,
    page: Option<u32>,
    line: Option<u32>,
) -> ApiResult<()> {
    blocking(state, move |d| d.open_path(&path, page, line)).await
}

#[tauri::command]
pub async fn reveal_path(state: State<'_, Docent>, path: String) -> ApiResult<()> {
    blocking(state, move |d| d.reveal_path(&path)).await
}

#[tauri::command]
pub async fn open_link(state: State<'_, Docent>, url: String) -> ApiResult<()> {
    blocking(state, move |d| d.open_link(&url)).await
}

#[tauri::command]
pub async fn search(
    state: State<'_, Docent>,
    query: String,
    limit: u32,
) -> ApiResult<SearchResponse> {
    blocking(state, move |d| d.search(&query, limit)).await
}

#[tauri::command]
pub async fn ask(
    state: State<'_, Docent>,
    question: String,
    conversation_id: Option<i64>,
    on_event: Channel<AnswerEvent>,
) -> ApiResult<AnswerResult> {
    blocking(state, move |d| {
        d.ask(&question, conversation_id, &mut |event| {
            // A closed page stops listening; the answer still completes and is stored.
            let _ = on_event.send(event);
        })
    })
    .await
}

#[tauri::command]
pub fn stop_answer(state: State<'_, Docent>) {
    state.stop_answer();
}

#[tauri::command]
pub async fn list_conversations(state: State<'_, Docent>) -> ApiResult<Vec<ConversationInfo>> {
    blocking(state, |d| d.conversations()).await
}

#[tauri::command]
pub async fn conversation_messages(
    state: State<'_, Docent>,
    id: i64,
) -> ApiResult<Vec<MessageInfo>> {
    blocking(state, move |d| d.conversation_messages(id)).await
}

#[tauri::command]
pub async fn new_conversation(state: State<'_, Docent>) -> ApiResult<ConversationInfo> {
    blocking(state, |d| d.new_conversation()).await
}

#[tauri::command]
pub async fn rename_conversation(
    state: State<'_, Docent>,
    id: i64,
    title: String,
) -> ApiResult<()> {
    blocking(state, move |d| d.rename_conversation(id, &title)).await
}

#[tauri::command]
pub async fn delete_conversation(state: State<'_, Docent>, id: i64) -> ApiResult<()> {
    blocking(state, move |d| d.delete_conversation(id)).await
}

#[tauri::command]
pub async fn save_settings(state: State<'_, Docent>, settings: Settings) -> ApiResult<AppInfo> {
    blocking(state, move |d| d.save_settings(settings)).await
}

#[tauri::command]
pub async fn pick_model(state: State<'_, Docent>) -> ApiResult<Option<ModelInfo>> {
    blocking(state, |d| d.pick_model()).await
}

/// The invoke handler with every command; a macro so tests can build it for the mock runtime.
#[macro_export]
macro_rules! handler {
    () => {
        tauri::generate_handler![
            $crate::commands::app_info,
            $crate::commands::pick_and_add,
            $crate::commands::list_documents,
            $crate::commands::list_folders,
            $crate::commands::set_watching,
            $crate::commands::remove_paths,
            $crate::commands::reindex,
            $crate::commands::pause_indexing,
            $crate::commands::resume_indexing,
            $crate::commands::cancel_indexing,
            $crate::commands::index_state,
            $crate::commands::open_path,
            $crate::commands::reveal_path,
            $crate::commands::open_link,
            $crate::commands::search,
            $crate::commands::ask,
            $crate::commands::stop_answer,
            $crate::commands::list_conversations,
            $crate::commands::conversation_messages,
            $crate::commands::new_conversation,
            $crate::commands::rename_conversation,
            $crate::commands::delete_conversation,
            $crate::commands::save_settings,
            $crate::commands::pick_model,
        ]
    };
}
