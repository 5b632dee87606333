//! Hostile file names and document text never reach the terminal as control characters: every
//! command's stdout and stderr is free of ESC and every other C0/C1 control (but newline and
//! tab), and `--json` keeps the exact paths.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// OSC 52 (write the clipboard) and OSC 8 (a hyperlink whose text lies about its target).
const OSC_52: &str = "\x1b]52;c;ZXZpbA==\x07";
const OSC_8: &str = "\x1b]8;;https:\u{2215}\u{2215}evil.example\x1b\\";
// (A file name cannot hold '/': the link target uses U+2215 in its place.)

/// No control character but newline and tab, in any encoding a terminal could read: raw
/// bytes (ESC, C0, DEL, and the 8-bit C1 bytes when they are not part of a UTF-8 character)
/// and UTF-8 encoded C1 characters.
fn assert_clean(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.contains(&0x1b),
        "{what}: ESC in the output:\n{}",
        String::from_utf8_lossy(bytes)
    );
    let text = String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|_| panic!("{what}: output is not UTF-8: {bytes:?}"));
    for c in text.chars() {
        assert!(
            !c.is_control() || c == '\n' || c == '\t',
            "{what}: control character U+{:04X} in the output:\n{text}",
            c as u32
        );
    }
}

fn assert_output_clean(what: &str, output: &Output) {
    assert_clean(&format!("{what} (stdout)"), &output.stdout);
    assert_clean(&format!("{what} (stderr)"), &output.stderr);
}

/// Runs `docent ARGS` and checks both streams; returns stdout as text.
fn run_clean(data: &Path, args: &[&str]) -> String {
    let output = run_ok(docent(data).args(args));
    assert_output_clean(&format!("docent {}", args.join(" ")), &output);
    String::from_utf8(output.stdout).unwrap()
}

/// A folder whose file names and contents carry escape sequences, bidi controls and C1
/// controls: one text file, one Markdown file (with the sequences also as character
/// references), and one broken PDF (so a failure reason names it).
fn hostile_folder(root: &Path) -> Vec<PathBuf> {
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let text_name = docs.join(format!("notes{OSC_52}\u{9b}2J\r.txt"));
    std::fs::write(
        &text_name,
        format!(
            "Feed the sourdough starter once a day{OSC_52} with flour and water.\n\
             Keep it warm{OSC_8}click here\x1b]8;;\x1b\\ and \u{9b}31m covered.\n"
        ),
    )
    .unwrap();
    let markdown_name = docs.join(format!("guide{OSC_8}report\u{202e}\u{61c}fdp.md"));
    std::fs::write(
        &markdown_name,
        "# Sourdough &#x1b;]52;c;ZXZpbA==&#x7; guide\x1b[31m\n\n\
         Bake the sourdough loaf &#x1b;]8;;https://evil&#x1b;\\\\ at 230 degrees.\n",
    )
    .unwrap();
    let pdf_name = docs.join(format!("broken\x1b[2J{OSC_52}.pdf"));
    std::fs::write(&pdf_name, "%PDF-1.7\n\x1b]52;c;ZXZpbA==\x07 not a real pdf").unwrap();
    vec![text_name, markdown_name, pdf_name]
}

#[test]
fn hostile_names_and_text_never_reach_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let files = hostile_folder(tmp.path());
    let docs = tmp.path().join("docs");

    // Indexing with debug logs on: the log lines carry paths and worker output too.
    let output = run_ok(
        docent(&data)
            .env("DOCENT_LOG", "debug")
            .arg("index")
            .arg(&docs),
    );
    assert_output_clean("docent index", &output);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("2 indexed"), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    // The failed file is named, with its controls shown as escapes.
    assert!(
        stdout.contains("broken\\u{1b}[2J\\u{1b}]52;c;ZXZpbA==\\u{7}.pdf"),
        "{stdout}"
    );

    let hits = run_clean(&data, &["search", "sourdough starter", "--top-k", "5"]);
    assert!(
        hits.contains("notes\\u{1b}]52;c;ZXZpbA==\\u{7}\\u{9b}2J\\u{d}.txt"),
        "{hits}"
    );
    assert!(hits.contains("report\\u{202e}\\u{61c}fdp.md"), "{hits}");
    // The document text was cleaned at ingestion: the sequences' payloads stay as text, their
    // control characters are gone.
    assert!(
        hits.contains("once a day]52;c;ZXZpbA== with flour"),
        "{hits}"
    );

    let listing = run_clean(&data, &["docs"]);
    assert!(listing.contains("failed"), "{listing}");
    run_clean(&data, &["docs", "--status", "failed"]);
    run_clean(&data, &["status"]);

    // `--json`: the same paths, exactly, once the JSON is read.
    let json_output = run_ok(docent(&data).args(["docs", "--json"]));
    assert_output_clean("docent docs --json", &json_output);
    let listed: serde_json::Value = serde_json::from_slice(&json_output.stdout).unwrap();
    let mut paths: Vec<String> = listed["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| f.canonicalize().unwrap().to_string_lossy().into_owned())
        .collect();
    paths.sort();
    expected.sort();
    assert_eq!(paths, expected, "paths in --json are byte-exact");
    let search_json = run_ok(docent(&data).args(["search", "sourdough", "--json"]));
    assert_output_clean("docent search --json", &search_json);
    run_clean(&data, &["status", "--json"]);

    // An answer: streamed model output and the sources list, which names the files.
    let answer = run_clean(
        &data,
        &[
            "ask",
            "How often should I feed the sourdough starter?",
            "--top-k",
            "2",
            "--max-tokens",
            "48",
        ],
    );
    assert!(answer.contains("\\u{1b}"), "a source is named: {answer}");

    // Errors name paths too.
    let missing = docs.join(format!("missing{OSC_52}.txt"));
    let output = docent(&data).arg("index").arg(&missing).output().unwrap();
    assert_output_clean("docent index (missing file)", &output);

    let removed = run_clean(&data, &["remove", files[0].to_str().unwrap()]);
    assert!(removed.contains("1 document(s) removed"), "{removed}");
}
