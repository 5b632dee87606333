//! "Open at page N" / "Open at line N": the system's default app for the file's type, started
//! with its own page or line argument when it is one Docent knows; otherwise the plain file.

use std::path::Path;
use std::process::{Command, Stdio};

/// A program and the arguments that open `path` at a position.
#[derive(Debug, PartialEq, Eq)]
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
}

/// How a known viewer or editor (by its desktop entry, e.g. `org.gnome.Evince.desktop`) opens a
/// file at a page (PDFs) or line (text).
pub fn launch_for(
    desktop_entry: &str,
    path: &Path,
    page: Option<u32>,
    line: Option<u32>,
) -> Option<Launch> {
    let entry = desktop_entry
        .trim()
        .trim_end_matches(".desktop")
        .to_lowercase();
    let app = entry.rsplit('.').next().unwrap_or(&entry).to_string();
    let file = path.to_string_lossy().into_owned();
    let args: Vec<String> = match (app.as_str(), page, line) {
        ("evince" | "atril" | "xreader", Some(page), _) => {
            vec![format!("--page-label={page}"), file]
        }
        ("okular", Some(page), _) => vec!["-p".into(), page.to_string(), file],
        ("zathura", Some(page), _) => vec!["-P".into(), page.to_string(), file],
        ("qpdfview", Some(page), _) => vec![format!("{file}#{page}")],
        ("code" | "codium" | "code-oss", _, Some(line)) => {
            vec!["--goto".into(), format!("{file}:{line}")]
        }
        ("gedit" | "xed" | "pluma" | "gnome-text-editor" | "texteditor", _, Some(line)) => {
            vec![format!("+{line}"), file]
        }
        ("kate" | "kwrite", _, Some(line)) => vec!["--line".into(), line.to_string(), file],
        ("mousepad", _, Some(line)) => vec![format!("--line={line}"), file],
        _ => return None,
    };
    let program = match app.as_str() {
        "texteditor" => "gnome-text-editor".to_string(),
        other => other.to_string(),
    };
    Some(Launch { program, args })
}

/// The default app's desktop entry for a MIME type, from `xdg-mime`.
fn default_desktop_entry(mime: &str) -> Option<String> {
    let output = Command::new("xdg-mime")
        .args(["query", "default", mime])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let entry = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!entry.is_empty()).then_some(entry)
}

/// Tries to open `path` at `page` or `line` with the system's default app; false when Docent
/// does not know how (the caller then opens the plain file).
pub fn open_at(path: &Path, page: Option<u32>, line: Option<u32>) -> bool {
    if page.is_none() && line.is_none() {
        return false;
    }
    let is_pdf = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
    let mime = if is_pdf {
        "application/pdf"
    } else {
        "text/plain"
    };
    let Some(entry) = default_desktop_entry(mime) else {
        return false;
    };
    let (page, line) = if is_pdf { (page, None) } else { (None, line) };
    let Some(launch) = launch_for(&entry, path, page, line) else {
        return false;
    };
    Command::new(&launch.program)
        .args(&launch.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_viewers_get_their_page_and_line_arguments() {
        let pdf = Path::new("/docs/a b.pdf");
        assert_eq!(
            launch_for("org.gnome.Evince.desktop", pdf, Some(4), None),
            Some(Launch {
                program: "evince".into(),
                args: vec!["--page-label=4".into(), "/docs/a b.pdf".into()],
            })
        );
        assert_eq!(
            launch_for("okularApplication_pdf.desktop", pdf, Some(2), None),
            None,
            "an entry Docent does not know opens the plain file"
        );
        assert_eq!(
            launch_for("org.kde.okular.desktop", pdf, Some(2), None)
                .unwrap()
                .args,
            vec!["-p", "2", "/docs/a b.pdf"]
        );
        let text = Path::new("/docs/notes.md");
        assert_eq!(
            launch_for("code.desktop", text, None, Some(12))
                .unwrap()
                .args,
            vec!["--goto", "/docs/notes.md:12"]
        );
        assert_eq!(
            launch_for("org.gnome.TextEditor.desktop", text, None, Some(3)).unwrap(),
            Launch {
                program: "gnome-text-editor".into(),
                args: vec!["+3".into(), "/docs/notes.md".into()],
            }
        );
        assert_eq!(launch_for("code.desktop", text, None, None), None);
    }
}
