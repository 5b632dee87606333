// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use docent_engine::{EngineConfig, default_data_dir};

fn main() -> ExitCode {
    // The engine parses untrusted files in child processes of this same executable.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__parse-worker")
    {
        return match docent_engine::serve_parse_worker() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if !docent_desktop::has_display() {
        eprintln!(
            "docent-desktop: no display found (DISPLAY and WAYLAND_DISPLAY are unset).\n\
             Run it from a desktop session, or use the command-line app: `docent --help`."
        );
        return ExitCode::from(2);
    }
    match docent_desktop::run(EngineConfig::new(default_data_dir())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("docent-desktop: {message}");
            ExitCode::FAILURE
        }
    }
}
