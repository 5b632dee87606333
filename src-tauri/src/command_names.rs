//! Every command the page may call. Shared by `build.rs` (access control), the invoke handler
//! and a test that checks `capabilities/default.json` grants exactly these.

pub const NAMES: &[&str] = &[
    "app_info",
    "pick_and_add",
    "list_documents",
    "list_folders",
    "set_watching",
    "remove_paths",
    "reindex",
    "pause_indexing",
    "resume_indexing",
    "cancel_indexing",
    "index_state",
    "open_path",
    "reveal_path",
    "open_link",
    "search",
    "ask",
    "stop_answer",
    "list_conversations",
    "conversation_messages",
    "new_conversation",
    "rename_conversation",
    "delete_conversation",
    "save_settings",
    "pick_model",
];
