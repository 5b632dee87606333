//! Declares Docent's own commands to Tauri's access control, so the page may call exactly the
//! ones `capabilities/default.json` lists.

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(docent_commands::NAMES);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build script");
}

#[path = "src/command_names.rs"]
mod docent_commands;
