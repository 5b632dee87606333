//! A bad file is one bad file, in memory too: huge files end with a reason, the small file
//! beside them is indexed, and the run's peak memory stays under a stated bound.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use zip::write::SimpleFileOptions;

use crate::common::*;

/// The address-space limit the run gets (`ulimit -v`, KiB): 6 GiB.
const ULIMIT_V_KIB: u64 = 6_291_456;
/// The bound on peak resident memory: 1.5 GiB.
const MAX_PEAK_RSS_KIB: u64 = 1536 << 10;

const WORDS: [&str; 16] = [
    "ledger", "harbour", "quartz", "meadow", "signal", "copper", "lantern", "orchard", "violet",
    "granite", "ember", "thistle", "canyon", "falcon", "juniper", "mosaic",
];

/// Exactly `n_bytes` of one-line JSON, written 1 MB at a time.
fn write_one_line_json(path: &Path, n_bytes: usize) {
    let mut record = String::new();
    let mut n_record = 0;
    while record.len() < 1 << 20 {
        record.push_str(&format!(
            r#"{{"id":{n_record},"note":"{} {} {}"}},"#,
            WORDS[n_record % 16],
            WORDS[n_record * 7 % 16],
            WORDS[n_record * 11 % 16]
        ));
        n_record += 1;
    }
    let mut out = BufWriter::new(File::create(path).unwrap());
    out.write_all(b"[").unwrap();
    let n_records = (n_bytes - 64) / record.len();
    for _ in 0..n_records {
        out.write_all(record.as_bytes()).unwrap();
    }
    // `{"pad":"` and `"}]` around the padding make up the exact size.
    let n_padding = n_bytes - 1 - n_records * record.len() - 11;
    out.write_all(br#"{"pad":""#).unwrap();
    out.write_all(&vec![b'x'; n_padding]).unwrap();
    out.write_all(br#""}]"#).unwrap();
    out.flush().unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len(), n_bytes as u64);
}

/// A DOCX whose `word/document.xml` inflates to about `n_text_bytes` of paragraph text. The
/// words are drawn pseudo-randomly, so deflate compresses them about 3:1, well within the
/// archive caps (256 MB expanded, ratio 100): only the text cap can stop it.
fn write_big_docx(path: &Path, n_text_bytes: usize) {
    // 1 MB of paragraphs whose words follow no short period, repeated: deflate's window is
    // 32 KB, so the repeats do not compress.
    let mut body = String::new();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    while body.len() < 1 << 20 {
        body.push_str("<w:p><w:r><w:t>");
        for _ in 0..120 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push_str(WORDS[(state % 16) as usize]);
            body.push(' ');
        }
        body.push_str("</w:t></w:r></w:p>");
    }
    let file = BufWriter::new(File::create(path).unwrap());
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(br#"<?xml version="1.0"?><Types/>"#).unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#,
    )
    .unwrap();
    for _ in 0..n_text_bytes / body.len() {
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.write_all(b"</w:body></w:document>").unwrap();
    zip.finish().unwrap().flush().unwrap();
}

/// Runs `docent index folder` under `ulimit -v`, and returns its exit status and the peak
/// resident memory (KiB) of the largest process of the run.
///
/// The peak comes from `wait4` on the docent process: its rusage is that of the process and of
/// the descendants it waited for, the parse workers, with `ru_maxrss` the largest of them.
/// That is one number bounding every process of the run, the app and each worker, and unlike
/// `getrusage(RUSAGE_CHILDREN)` it is not mixed up with the children of other tests running in
/// this test binary at the same time. (`VmHWM` in `/proc/<pid>/status` would give the app
/// alone, but it is gone by the time the process can be waited for.)
#[allow(unsafe_code)] // wait4: the peak memory of this one child, see below.
fn index_under_ulimit(data: &Path, folder: &Path) -> (i32, u64, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {ULIMIT_V_KIB} && exec \"$@\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_docent"))
        .arg("--data-dir")
        .arg(data)
        .arg("index")
        .arg(folder)
        .env_remove("DOCENT_DATA_DIR")
        .env("DOCENT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let output = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of a plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes into the two locals it is given; the pid is our own unreaped child
    // (std's Child is never waited on after this).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let output = output.join().unwrap();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    (code, usage.ru_maxrss as u64, output)
}

fn doc_named<'a>(docs: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["path"].as_str().is_some_and(|p| p.ends_with(name)))
        .unwrap_or_else(|| panic!("{name} is not in the library: {docs:#?}"))
}

#[test]
fn huge_files_fail_with_a_reason_within_a_memory_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let data = tmp.path().join("data");

    let generating = Instant::now();
    write_one_line_json(&folder.join("big.json"), 300 << 20);
    write_big_docx(&folder.join("big.docx"), 200 << 20);
    std::fs::write(
        folder.join("small.txt"),
        "The small file beside the giants is indexed all the same.\n",
    )
    .unwrap();
    let generated_in = generating.elapsed();

    let indexing = Instant::now();
    let (code, peak_kib, output) = index_under_ulimit(&data, &folder);
    let indexed_in = indexing.elapsed();
    eprintln!(
        "generated in {:.1} s (big.docx {} MB); indexed in {:.1} s; peak RSS {} MB",
        generated_in.as_secs_f64(),
        std::fs::metadata(folder.join("big.docx")).unwrap().len() >> 20,
        indexed_in.as_secs_f64(),
        peak_kib >> 10
    );
    assert_eq!(code, 0, "docent index failed:\n{output}");
    assert!(
        peak_kib < MAX_PEAK_RSS_KIB,
        "peak RSS {} MB is over the {} MB bound",
        peak_kib >> 10,
        MAX_PEAK_RSS_KIB >> 10
    );

    let docs = documents(&data);
    let small = doc_named(&docs, "small.txt");
    assert_eq!(small["status"], "indexed", "{small:#}");
    assert!(small["chunks"].as_u64().unwrap() > 0);
    let json = doc_named(&docs, "big.json");
    assert_eq!(json["status"], "failed", "{json:#}");
    assert_eq!(json["reason"], "too much text (300 MB, limit 32 MB)");
    let docx = doc_named(&docs, "big.docx");
    assert_eq!(docx["status"], "failed", "{docx:#}");
    assert_eq!(docx["reason"], "too much text (over the 32 MB limit)");
    assert!(
        output.contains("too much text"),
        "the reasons are printed:\n{output}"
    );
}
