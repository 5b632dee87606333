//! A folder of mixed real documents: index, search with reworded questions, change, delete and
//! move files, index again.

use std::io::Write;
use std::path::Path;

use crate::common::*;

fn write_docx(path: &Path, title: &str, paragraphs: &[(&str, &str)]) {
    let mut body = String::new();
    for (style, text) in paragraphs {
        let style = if style.is_empty() {
            String::new()
        } else {
            format!(r#"<w:pPr><w:pStyle w:val="{style}"/></w:pPr>"#)
        };
        body.push_str(&format!("<w:p>{style}<w:r><w:t>{text}</w:t></w:r></w:p>"));
    }
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let core = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></cp:coreProperties>"#
    );
    let content_types = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for (name, text) in [
        ("[Content_Types].xml", content_types.to_string()),
        ("word/document.xml", document),
        ("docProps/core.xml", core),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn top5(data: &Path, query: &str) -> Vec<String> {
    names(&search(data, query, "hybrid"))
}

#[test]
fn index_search_change_delete_move_and_reindex() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lib = tmp.path().join("library");
    copy_dir(&repo_root().join("assets/sample-docs"), &lib.join("notes"));
    std::fs::create_dir_all(lib.join("papers")).unwrap();
    std::fs::copy(
        shared_eval().join("pdfs/pdfjs__tracemonkey.pdf"),
        lib.join("papers/tracemonkey.pdf"),
    )
    .unwrap();
    write_docx(
        &lib.join("handbook.docx"),
        "Employee handbook",
        &[
            ("Title", "Employee handbook"),
            ("Heading1", "Time off"),
            (
                "",
                "Every employee receives twenty-five days of paid vacation per calendar year. \
                 Unused vacation days can be carried over until the end of March.",
            ),
            ("Heading1", "Equipment"),
            (
                "",
                "New staff choose between a laptop running Linux or macOS.",
            ),
        ],
    );
    std::fs::write(
        lib.join("photo.png"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR binary",
    )
    .unwrap();
    std::fs::write(
        lib.join("fake.md"),
        b"\0\x01\x02\x03\xff\xfe binary pretending",
    )
    .unwrap();
    std::fs::write(lib.join(".secret.txt"), "hidden files are not indexed").unwrap();
    std::fs::create_dir_all(lib.join("node_modules/pkg")).unwrap();
    std::fs::write(lib.join("node_modules/pkg/index.js"), "module.exports = 1;").unwrap();

    let summary = index(&data, &[&lib]);
    assert!(summary.contains("6 indexed"), "{summary}");
    assert!(summary.contains("2 skipped"), "{summary}");

    let docs = documents(&data);
    assert_eq!(
        docs.len(),
        8,
        "hidden files and node_modules are not walked: {docs:#?}"
    );
    for name in [
        "sourdough.md",
        "meeting-notes.txt",
        "solar.html",
        "ownership.rs",
        "tracemonkey.pdf",
        "handbook.docx",
    ] {
        let d = doc(&docs, name);
        assert_eq!(d["status"], "indexed", "{d:#}");
        assert!(d["chunks"].as_u64().unwrap() > 0, "{d:#}");
        assert!(Path::new(d["path"].as_str().unwrap()).is_absolute());
    }
    assert_eq!(doc(&docs, "tracemonkey.pdf")["pages"], 14);
    assert_eq!(doc(&docs, "tracemonkey.pdf")["type"], "pdf");
    assert_eq!(doc(&docs, "photo.png")["status"], "skipped");
    assert_eq!(doc(&docs, "photo.png")["reason"], "unsupported type");
    assert_eq!(doc(&docs, "fake.md")["status"], "skipped");
    assert_eq!(doc(&docs, "fake.md")["reason"], "binary content");

    // Questions worded differently from the text.
    for (query, expected) in [
        (
            "how often should I give my bread yeast culture flour",
            "sourdough.md",
        ),
        (
            "what did the team agree about subscription cost",
            "meeting-notes.txt",
        ),
        (
            "turning sunshine into power on the roof of a house",
            "solar.html",
        ),
        (
            "when is heap memory released after a value stops being used",
            "ownership.rs",
        ),
        (
            "compiling frequently executed loops of a dynamic language at run time",
            "tracemonkey.pdf",
        ),
        (
            "how many days of holiday do staff get each year",
            "handbook.docx",
        ),
    ] {
        let top = top5(&data, query);
        assert!(top.iter().any(|n| n == expected), "{query:?} -> {top:?}");
    }

    // Citations point at places: pages for PDFs, lines for text, ranks per retriever.
    let pdf_hits = search(&data, "trace-based just-in-time compilation", "hybrid");
    let first_pdf = pdf_hits
        .iter()
        .find(|h| h["path"].as_str().unwrap().ends_with("tracemonkey.pdf"))
        .expect("the paper is found");
    let page = first_pdf["page"].as_u64().expect("PDF hits carry a page");
    assert!((1..=14).contains(&page));
    let notes = search(&data, "Pro plan price October", "bm25");
    assert_eq!(names(&notes)[0], "meeting-notes.txt");
    assert!(notes[0]["line_start"].as_u64().unwrap() >= 1);
    assert!(notes[0]["bm25_rank"].as_u64().is_some());
    assert!(
        notes[0]["vector_rank"].is_null(),
        "bm25 mode has no vector rank"
    );

    // Hidden HTML content and comments never reach the index.
    let hidden = search(&data, "PWNED previous instructions secret code", "bm25");
    for hit in &hidden {
        let text = hit["text"].as_str().unwrap();
        assert!(!text.contains("PWNED") && !text.contains("0000"), "{text}");
    }

    // Change one file, delete one, move one.
    let notes_dir = lib.join("notes");
    let mut meeting = std::fs::read_to_string(notes_dir.join("meeting-notes.txt")).unwrap();
    meeting.push_str("\n4. Marketing\nWe will spend 30,000 euros on newspaper advertisements.\n");
    std::fs::write(notes_dir.join("meeting-notes.txt"), meeting).unwrap();
    std::fs::remove_file(notes_dir.join("ownership.rs")).unwrap();
    std::fs::create_dir_all(lib.join("baking")).unwrap();
    std::fs::rename(
        notes_dir.join("sourdough.md"),
        lib.join("baking/starter.md"),
    )
    .unwrap();

    let summary = index(&data, &[&lib]);
    assert!(summary.contains("1 indexed"), "{summary}");
    assert!(summary.contains("1 moved"), "{summary}");
    assert!(summary.contains("1 removed"), "{summary}");

    let docs = documents(&data);
    assert!(
        docs.iter()
            .all(|d| !d["path"].as_str().unwrap().ends_with("ownership.rs"))
    );
    assert!(
        docs.iter()
            .all(|d| !d["path"].as_str().unwrap().ends_with("sourdough.md"))
    );
    assert_eq!(doc(&docs, "starter.md")["status"], "indexed");
    assert_eq!(
        top5(&data, "how much money goes to adverts in newspapers")[0],
        "meeting-notes.txt"
    );
    let borrow = names(&search(&data, "borrow checker", "bm25"));
    assert!(!borrow.contains(&"ownership.rs".to_string()), "{borrow:?}");
    assert!(top5(&data, "feeding a sourdough starter").contains(&"starter.md".to_string()));
    assert_stores_agree(&data);

    // Nothing changed: nothing is parsed or embedded again.
    let summary = index(&data, &[&lib]);
    assert!(summary.starts_with("0 indexed, 7 unchanged"), "{summary}");

    // Removing a folder drops its documents from every index.
    let mut remove = docent(&data);
    remove.arg("remove").arg(lib.join("papers"));
    run_ok(&mut remove);
    let hits = names(&search(
        &data,
        "trace-based just-in-time compilation",
        "hybrid",
    ));
    assert!(!hits.contains(&"tracemonkey.pdf".to_string()), "{hits:?}");
    assert_stores_agree(&data);
}

#[test]
fn a_missing_path_is_reported_and_the_rest_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("note.txt");
    std::fs::write(&file, "The boiler was serviced on the third of May.").unwrap();
    let missing = tmp.path().join("no-such-folder");
    let summary = index(&data, &[&missing, &file]);
    assert!(summary.contains("1 indexed"), "{summary}");
    assert!(
        summary.contains("no-such-folder: no such file or directory"),
        "{summary}"
    );
}

#[test]
fn a_second_process_on_the_same_library_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let output = docent(&data).arg("status").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("another Docent process"), "{stderr}");
}
