//! The page's TypeScript types must be the ones these Rust types generate.

use std::path::PathBuf;

fn bindings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings")
}

#[test]
fn bindings_are_current() {
    let dir = bindings_dir();
    let update = std::env::var_os("UPDATE_BINDINGS").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    let mut expected_files = Vec::new();
    for (name, text) in docent_ipc::bindings() {
        let file = format!("{name}.ts");
        let path = dir.join(&file);
        expected_files.push(file.clone());
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != text {
            if update {
                std::fs::write(&path, &text).unwrap();
            } else {
                stale.push(file);
            }
        }
    }
    // A file for a type that no longer exists is stale too.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if file.ends_with(".ts") && !expected_files.contains(&file) {
            if update {
                std::fs::remove_file(dir.join(&file)).unwrap();
            } else {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "ui/src/bindings is out of date with crates/ipc ({}); regenerate with \
         `UPDATE_BINDINGS=1 cargo test -p docent-ipc`",
        stale.join(", ")
    );
}

#[test]
fn answer_events_are_tagged_by_kind() {
    let event = docent_ipc::AnswerEvent::Token {
        text: "Hi".to_string(),
    };
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"kind":"token","text":"Hi"}"#
    );
}
