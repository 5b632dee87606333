//! Which paths Docent may read: one policy for the folder walk, the folder watcher, drops,
//! dialogs and any later caller.
//!
//! A path is read only when
//! - it lies under a root the user added (a folder or a file; roots are kept canonical),
//! - no component between its root and itself is hidden, is a folder the walk never enters
//!   (`.git`, `node_modules`, `target`), or is ignored by a `.gitignore` or `.ignore` inside
//!   the root (nothing above the root is read),
//! - every symlink on the way resolves to a place under a root (a link out is refused with a
//!   reason and never followed; a loop is reported and harmless), and
//! - it is not in Docent's own data folder, which is compared canonicalised (and by device and
//!   inode on Unix), so another spelling of the folder or a link to it is still recognised.
//!
//! [`PathPolicy::screen`] decides what it can from the path's text alone: the folder watcher
//! runs it on every change, so a burst from `npm install` never reaches the indexing queue.
//! [`PathPolicy::walk`] decides the rest by walking from the root down to each target with the
//! same `ignore` walker and the same rules as a walk of the whole root, so a changed file is
//! indexed exactly when a fresh walk of its folder would index it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::IngestError;

/// Folders that are never worth indexing, whatever the ignore files say.
const SKIPPED_DIR_NAMES: &[&str] = &[".git", "node_modules", "target"];

/// The roots the user added, and the folders that are never read even inside them.
///
/// ```
/// use docent_ingest::{PathPolicy, Refusal};
/// use std::path::{Path, PathBuf};
///
/// let policy = PathPolicy::new(&[PathBuf::from("/home/me/notes")]);
/// assert!(policy.screen(Path::new("/home/me/notes/plan.md")).is_ok());
/// assert_eq!(
///     policy.screen(Path::new("/home/me/notes/web/node_modules/x/index.js")),
///     Err(Refusal::SkippedFolder("node_modules".into()))
/// );
/// assert_eq!(policy.screen(Path::new("/home/me/.ssh/id_ed25519")), Err(Refusal::Outside));
/// ```
#[derive(Debug, Clone)]
pub struct PathPolicy {
    roots: Vec<PathBuf>,
    excluded: Vec<Excluded>,
}

#[derive(Debug, Clone)]
struct Excluded {
    canonical: PathBuf,
    /// Device and inode: the folder is recognised under any path (a bind mount, a link to a
    /// folder above it).
    #[cfg(unix)]
    id: Option<(u64, u64)>,
}

/// Why a path is not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not under any folder or file the user added.
    Outside,
    /// Relative, or contains `..`.
    NotPlain,
    /// Docent's own data folder, or inside it.
    DataFolder,
    /// A hidden file or folder on the way from the root.
    Hidden(String),
    /// A folder the walk never enters (`node_modules`...) on the way from the root.
    SkippedFolder(String),
    /// A symlink whose target lies outside every root.
    LinkOutside,
}

impl Refusal {
    /// A short lowercase sentence for the per-file reason column.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Outside => "outside the folders you added".to_string(),
            Refusal::NotPlain => "not an absolute path without `..`".to_string(),
            Refusal::DataFolder => "inside Docent's own data folder".to_string(),
            Refusal::Hidden(name) => format!("hidden ({name})"),
            Refusal::SkippedFolder(name) => format!("inside a skipped folder ({name})"),
            Refusal::LinkOutside => {
                "symlink to a place outside the folders you added (not followed)".to_string()
            }
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

/// One thing a walk met.
#[derive(Debug)]
pub enum Walked {
    /// A regular file to index.
    File(PathBuf),
    /// A path the policy refuses, reported so the person can see why it is missing.
    Refused { path: PathBuf, refusal: Refusal },
    /// The disk said no: an unreadable folder, a symlink loop.
    Error(IngestError),
}

impl PathPolicy {
    /// The policy for these roots (canonicalised here when they exist).
    pub fn new(roots: &[PathBuf]) -> PathPolicy {
        let mut roots: Vec<PathBuf> = roots
            .iter()
            .map(|root| canonical_or_absolute(root))
            .collect();
        roots.sort();
        roots.dedup();
        PathPolicy {
            roots,
            excluded: Vec::new(),
        }
    }

    /// Never reads `folder` or anything in it (Docent's own data folder), whatever path leads
    /// there.
    pub fn excluding(mut self, folder: &Path) -> PathPolicy {
        let canonical = canonical_or_absolute(folder);
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&canonical)
                .ok()
                .map(|meta| (meta.dev(), meta.ino()))
        };
        self.excluded.push(Excluded {
            canonical,
            #[cfg(unix)]
            id,
        });
        self
    }

    /// The roots, canonical where they exist.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The root `path` lies under (the deepest one when roots nest), comparing whole
    /// components of the path as written.
    pub fn root_of(&self, path: &Path) -> Option<&Path> {
        self.roots
            .iter()
            .filter(|root| path.starts_with(root))
            .max_by_key(|root| root.components().count())
            .map(PathBuf::as_path)
    }

    /// What can be decided about `path` from its text alone: its root, or why it is refused.
    ///
    /// Reads nothing from disk, except for a last component named like a skipped folder
    /// (`target`), which is refused only when it is a folder, as in the walk. Passing the
    /// screen is necessary, not sufficient: ignore files and symlinks are judged by
    /// [`walk`](PathPolicy::walk).
    pub fn screen(&self, path: &Path) -> Result<&Path, Refusal> {
        let plain = path.is_absolute()
            && !path
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
        if !plain {
            return Err(Refusal::NotPlain);
        }
        let root = self.root_of(path).ok_or(Refusal::Outside)?;
        if self
            .excluded
            .iter()
            .any(|ex| path.starts_with(&ex.canonical))
        {
            return Err(Refusal::DataFolder);
        }
        let below: Vec<&OsStr> = path.strip_prefix(root).unwrap_or(path).iter().collect();
        for (idx, name) in below.iter().enumerate() {
            if is_hidden(name) {
                return Err(Refusal::Hidden(name.to_string_lossy().into_owned()));
            }
            let is_last = idx + 1 == below.len();
            if is_skipped_dir_name(name) && (!is_last || path.is_dir()) {
                return Err(Refusal::SkippedFolder(name.to_string_lossy().into_owned()));
            }
        }
        Ok(root)
    }

    /// Every file under every root.
    pub fn walk_roots(&self) -> impl Iterator<Item = Walked> + use<> {
        self.walk(&self.roots.clone())
    }

    /// Every file at or under `targets` (changed files or folders, or whole roots) that a walk
    /// of their roots would find, plus what was refused on the way.
    ///
    /// Only the folders on the way from each root to its targets are read. A target that is
    /// gone yields nothing. A root that is a file is yielded as is: the user chose it.
    pub fn walk(&self, targets: &[PathBuf]) -> impl Iterator<Item = Walked> + use<> {
        let mut early = Vec::new();
        let mut folders: Vec<PathBuf> = Vec::new();
        let mut wanted = HashSet::new();
        let mut on_the_way = HashSet::new();
        let mut file_roots = HashSet::new();
        for target in targets {
            let root = match self.screen(target) {
                Ok(root) => root.to_path_buf(),
                Err(refusal) => {
                    early.push(Walked::Refused {
                        path: target.clone(),
                        refusal,
                    });
                    continue;
                }
            };
            match std::fs::metadata(&root) {
                Ok(meta) if meta.is_dir() => {
                    if !folders.contains(&root) {
                        folders.push(root.clone());
                    }
                    on_the_way.extend(
                        target
                            .ancestors()
                            .skip(1)
                            .take_while(|dir| dir.starts_with(&root))
                            .map(Path::to_path_buf),
                    );
                    wanted.insert(target.clone());
                }
                Ok(meta) if meta.is_file() => {
                    if file_roots.insert(root.clone()) {
                        early.push(Walked::File(root));
                    }
                }
                Ok(_) => tracing::debug!(path = %root.display(), "root is neither file nor folder"),
                Err(source) => {
                    if file_roots.insert(root.clone()) {
                        early.push(Walked::Error(IngestError::io(&root, source)));
                    }
                }
            }
        }

        let filter = Arc::new(EntryFilter {
            roots: self.roots.clone(),
            excluded: self.excluded.clone(),
            wanted,
            on_the_way,
            refused: Mutex::new(Vec::new()),
        });
        let walker = folders.first().map(|first| {
            let mut builder = ignore::WalkBuilder::new(first);
            for folder in &folders[1..] {
                builder.add(folder);
            }
            let filter = filter.clone();
            builder
                .standard_filters(false)
                .hidden(true)
                .parents(false)
                .ignore(true)
                .git_ignore(true)
                .git_exclude(true)
                .git_global(false)
                .require_git(true)
                .follow_links(true)
                .filter_entry(move |entry| filter.keep(entry));
            builder.build()
        });

        let walked = walker
            .into_iter()
            .flatten()
            .filter_map(|entry| match entry {
                Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                    Some(Walked::File(entry.into_path()))
                }
                Ok(_) => None,
                Err(error) => match walk_error(error, None) {
                    error if is_dangling_symlink(&error) => {
                        tracing::debug!(%error, "skipping a dangling symlink");
                        None
                    }
                    error => Some(Walked::Error(error)),
                },
            });
        // Refusals are gathered by the filter while the walk runs; hand them out after it.
        let refused = std::iter::once_with(move || {
            std::mem::take(&mut *filter.refused.lock().expect("refused lock"))
        })
        .flatten();
        early.into_iter().chain(walked).chain(refused)
    }
}

/// What the walker may enter or yield.
struct EntryFilter {
    roots: Vec<PathBuf>,
    excluded: Vec<Excluded>,
    /// The targets: everything at or under one is walked.
    wanted: HashSet<PathBuf>,
    /// Folders between a root and a target: entered, but their other entries are not.
    on_the_way: HashSet<PathBuf>,
    refused: Mutex<Vec<Walked>>,
}

impl EntryFilter {
    fn keep(&self, entry: &ignore::DirEntry) -> bool {
        if entry.depth() == 0 {
            return true;
        }
        let path = entry.path();
        let relevant =
            self.on_the_way.contains(path) || path.ancestors().any(|dir| self.wanted.contains(dir));
        if !relevant {
            return false;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        if is_dir && is_skipped_dir_name(entry.file_name()) {
            return false;
        }
        if entry.path_is_symlink() {
            // A link may point anywhere; follow it only when the target stays in the user's
            // folders, so a link to ~/.ssh or / in a cloned repository is never read.
            let Ok(target) = path.canonicalize() else {
                return false;
            };
            let refusal = if self
                .excluded
                .iter()
                .any(|ex| target.starts_with(&ex.canonical))
            {
                Refusal::DataFolder
            } else if !self.roots.iter().any(|root| target.starts_with(root)) {
                Refusal::LinkOutside
            } else {
                return true;
            };
            self.refuse(path, refusal);
            return false;
        }
        if is_dir && self.is_excluded_dir(entry) {
            self.refuse(path, Refusal::DataFolder);
            return false;
        }
        true
    }

    fn refuse(&self, path: &Path, refusal: Refusal) {
        tracing::info!(path = %path.display(), reason = %refusal, "not read");
        self.refused
            .lock()
            .expect("refused lock")
            .push(Walked::Refused {
                path: path.to_path_buf(),
                refusal,
            });
    }

    /// A folder reached through an in-root link has a path that is not canonical, so the data
    /// folder is recognised by its identity, not its spelling.
    fn is_excluded_dir(&self, entry: &ignore::DirEntry) -> bool {
        if self.excluded.is_empty() {
            return false;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let Ok(meta) = entry.metadata() else {
                return false;
            };
            let id = (meta.dev(), meta.ino());
            self.excluded.iter().any(|ex| ex.id == Some(id))
        }
        #[cfg(not(unix))]
        {
            entry.path().canonicalize().is_ok_and(|canonical| {
                self.excluded
                    .iter()
                    .any(|ex| canonical.starts_with(&ex.canonical))
            })
        }
    }
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

fn is_skipped_dir_name(name: &OsStr) -> bool {
    name.to_str()
        .is_some_and(|name| SKIPPED_DIR_NAMES.contains(&name))
}

/// Canonical when the path exists, else absolute as written.
fn canonical_or_absolute(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A link to nothing is not a file the person can fix by reading its reason; skip it.
fn is_dangling_symlink(error: &IngestError) -> bool {
    let IngestError::Io { path, source } = error else {
        return false;
    };
    source.kind() == std::io::ErrorKind::NotFound
        && std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
}

/// Flattens the nested `ignore` error into one error naming the path it is about.
fn walk_error(error: ignore::Error, path: Option<PathBuf>) -> IngestError {
    match error {
        ignore::Error::WithPath { path, err } => walk_error(*err, Some(path)),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error(*err, path)
        }
        ignore::Error::Partial(mut errors) if !errors.is_empty() => {
            walk_error(errors.swap_remove(0), path)
        }
        ignore::Error::Loop { ancestor, child } => IngestError::Walk {
            message: format!("symlink loop (points back to {})", ancestor.display()),
            path: child,
        },
        ignore::Error::Io(source) => IngestError::Io {
            path: path.unwrap_or_default(),
            source,
        },
        other => IngestError::Walk {
            path: path.unwrap_or_default(),
            message: crate::error::lowercase_first(&other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Writes each file (creating its folders), with its own name as content.
    fn tree(root: &Path, files: &[&str]) {
        for file in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, file).unwrap();
        }
    }

    /// Files found (relative to `base`, sorted), refusals (relative, with their reason) and
    /// errors.
    struct Found {
        files: Vec<String>,
        refused: Vec<(String, Refusal)>,
        errors: Vec<IngestError>,
    }

    fn collect(base: &Path, items: impl Iterator<Item = Walked>) -> Found {
        let relative = |path: &Path| {
            path.strip_prefix(base)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned()
        };
        let mut found = Found {
            files: Vec::new(),
            refused: Vec::new(),
            errors: Vec::new(),
        };
        for item in items {
            match item {
                Walked::File(path) => found.files.push(relative(&path)),
                Walked::Refused { path, refusal } => found.refused.push((relative(&path), refusal)),
                Walked::Error(error) => found.errors.push(error),
            }
        }
        found.files.sort();
        found.refused.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// A temporary folder by its canonical path (so expected paths compare equal).
    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        (dir, path)
    }

    const MIXED_TREE: &[&str] = &[
        "a.txt",
        "sub/b.md",
        ".hidden.txt",
        ".secret/c.txt",
        ".git/config",
        ".venv/lib/x.py",
        "node_modules/x/index.js",
        "web/node_modules/y.js",
        "target/debug/out.txt",
        "sub/deeper/d.rs",
        "ignored/e.txt",
        "repo/.git/config",
        "repo/.gitignore",
        "repo/kept.md",
        "repo/secret.env.txt",
        "repo/build/gen.txt",
    ];

    fn mixed_root(base: &Path) -> PathBuf {
        let root = base.join("root");
        tree(&root, MIXED_TREE);
        // An ignore file inside the root is honoured...
        std::fs::write(root.join(".ignore"), "ignored/\n").unwrap();
        // ...as is a .gitignore in a repository (a folder with `.git`, as `git init` makes it)...
        std::fs::write(root.join("repo/.gitignore"), "secret.env.txt\nbuild/\n").unwrap();
        // ...and one above the root is not read at all.
        std::fs::write(base.join(".ignore"), "*.md\n").unwrap();
        root
    }

    #[test]
    fn walk_skips_hidden_build_and_ignored_files() {
        let (_dir, base) = temp();
        let root = mixed_root(&base);
        let found = collect(&root, PathPolicy::new(&[root.clone()]).walk_roots());
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        assert!(found.refused.is_empty(), "{:?}", found.refused);
        assert_eq!(
            found.files,
            ["a.txt", "repo/kept.md", "sub/b.md", "sub/deeper/d.rs"]
        );
    }

    #[test]
    fn a_changed_path_is_read_exactly_when_the_walk_reads_it() {
        let (_dir, base) = temp();
        let root = mixed_root(&base);
        let policy = PathPolicy::new(&[root.clone()]);
        let walked = collect(&root, policy.walk_roots()).files;
        for file in MIXED_TREE {
            let found = collect(&root, policy.walk(&[root.join(file)]));
            let expected: Vec<String> = walked.iter().filter(|w| w == file).cloned().collect();
            assert_eq!(found.files, expected, "{file}");
            assert!(found.errors.is_empty(), "{file}: {:?}", found.errors);
        }
        // A changed folder brings its files and only those.
        let found = collect(&root, policy.walk(&[root.join("sub"), root.join("repo")]));
        assert_eq!(found.files, ["repo/kept.md", "sub/b.md", "sub/deeper/d.rs"]);
        // A target that is gone yields nothing.
        let found = collect(&root, policy.walk(&[root.join("sub/gone.txt")]));
        assert!(found.files.is_empty() && found.errors.is_empty());
    }

    #[test]
    fn screen_judges_every_component_below_the_root() {
        let (_dir, base) = temp();
        let root = base.join("notes");
        tree(&root, &["target/x.txt", "docs/target", "ok.txt"]);
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(base.join("notes2")).unwrap();
        // The root may itself be hidden or sit in a skipped folder: the user chose it.
        let hidden_root = base.join(".config/node_modules/app");
        std::fs::create_dir_all(&hidden_root).unwrap();
        let policy = PathPolicy::new(&[root.clone(), hidden_root.clone()]).excluding(&data);
        let check = |path: PathBuf, expected: Result<&Path, Refusal>| {
            assert_eq!(policy.screen(&path), expected, "{}", path.display());
        };
        check(root.join("ok.txt"), Ok(&root));
        check(root.join("new/deep/file.md"), Ok(&root));
        check(root.clone(), Ok(&root));
        check(hidden_root.join("x.md"), Ok(&hidden_root));
        check(root.join("docs/target"), Ok(&root)); // a file named like a skipped folder
        check(
            root.join(".git/config"),
            Err(Refusal::Hidden(".git".into())),
        );
        check(
            root.join(".venv/x.py"),
            Err(Refusal::Hidden(".venv".into())),
        );
        check(root.join("a/.env"), Err(Refusal::Hidden(".env".into())));
        let skipped = |name: &str| Err(Refusal::SkippedFolder(name.into()));
        check(root.join("node_modules/x.js"), skipped("node_modules"));
        check(root.join("web/node_modules/y.js"), skipped("node_modules"));
        check(root.join("target/x.txt"), skipped("target"));
        check(root.join("target"), skipped("target"));
        check(data.join("docent.db"), Err(Refusal::DataFolder));
        check(data.clone(), Err(Refusal::DataFolder));
        check(base.join("notes2/x.txt"), Err(Refusal::Outside));
        check(base.join("secret.txt"), Err(Refusal::Outside));
        check(root.join("../secret.txt"), Err(Refusal::NotPlain));
        check(PathBuf::from("notes/ok.txt"), Err(Refusal::NotPlain));
    }

    #[test]
    fn symlinks_out_of_the_roots_are_refused_and_never_followed() {
        let (_dir, base) = temp();
        let root = base.join("root");
        let outside = base.join("outside");
        tree(&root, &["docs/in.txt"]);
        tree(&outside, &["id_ed25519", "deep/secret.txt"]);
        symlink(&outside, root.join("link-out")).unwrap();
        symlink(outside.join("id_ed25519"), root.join("notes.txt")).unwrap();
        symlink(root.join("docs"), root.join("link-in")).unwrap();
        symlink(root.join("nowhere"), root.join("dangling.txt")).unwrap();

        let policy = PathPolicy::new(&[root.clone()]);
        let found = collect(&root, policy.walk_roots());
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        assert_eq!(found.files, ["docs/in.txt", "link-in/in.txt"]);
        let refused: Vec<(&str, &Refusal)> =
            found.refused.iter().map(|(p, r)| (p.as_str(), r)).collect();
        assert_eq!(
            refused,
            [
                ("link-out", &Refusal::LinkOutside),
                ("notes.txt", &Refusal::LinkOutside)
            ]
        );

        // The same links reported by a watcher, and paths through them.
        let found = collect(
            &root,
            policy.walk(&[
                root.join("notes.txt"),
                root.join("link-out"),
                root.join("link-out/deep/secret.txt"),
            ]),
        );
        assert!(found.files.is_empty(), "{:?}", found.files);
        assert_eq!(found.refused.len(), 2, "{:?}", found.refused);
        assert!(
            found
                .refused
                .iter()
                .all(|(_, r)| *r == Refusal::LinkOutside)
        );
        assert!(found.refused[0].1.reason().contains("outside the folders"));

        // A link into a second root the user added is fine.
        let policy = PathPolicy::new(&[root.clone(), outside.clone()]);
        let found = collect(&root, policy.walk(&[root.join("notes.txt")]));
        assert_eq!(found.files, ["notes.txt"]);
    }

    #[test]
    fn symlink_loops_are_reported_and_harmless() {
        let (_dir, base) = temp();
        let root = base.join("root");
        tree(&root, &["a/file.txt"]);
        symlink(&root, root.join("a/loop")).unwrap();
        symlink("self.txt", root.join("self.txt")).unwrap();

        let policy = PathPolicy::new(&[root.clone()]);
        let found = collect(&root, policy.walk_roots());
        assert_eq!(found.files, ["a/file.txt"]);
        // Both loops are reported with their path; neither yields a file nor stops the walk.
        let mut errors: Vec<(PathBuf, String)> = found
            .errors
            .iter()
            .map(|e| (e.path().unwrap().to_path_buf(), e.reason()))
            .collect();
        errors.sort();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].0, root.join("a/loop"));
        assert!(errors[0].1.starts_with("symlink loop"), "{errors:?}");
        assert_eq!(errors[1].0, root.join("self.txt"));

        let found = collect(&root, policy.walk(&[root.join("a/loop")]));
        assert!(found.files.is_empty(), "{:?}", found.files);
    }

    #[test]
    fn the_data_folder_is_never_read_however_it_is_spelled() {
        let (_dir, base) = temp();
        let root = base.join("root");
        tree(
            &root,
            &["a.txt", "app/data/docent.db", "app/data/bm25/seg.txt"],
        );
        // The engine was given a path through a link: compared canonicalised.
        symlink(root.join("app"), base.join("app-link")).unwrap();
        let data_spelled = base.join("app-link/data");
        // And a link inside the root reaches the data folder by another path.
        symlink(root.join("app"), root.join("alias")).unwrap();

        let policy = PathPolicy::new(&[root.clone()]).excluding(&data_spelled);
        let found = collect(&root, policy.walk_roots());
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        assert_eq!(found.files, ["a.txt"]);
        let refused: Vec<&str> = found.refused.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(refused, ["alias/data", "app/data"]);
        assert!(found.refused.iter().all(|(_, r)| *r == Refusal::DataFolder));
        // A change inside it is refused before any walk.
        let found = collect(&root, policy.walk(&[root.join("app/data/docent.db")]));
        assert_eq!(
            found.refused,
            [("app/data/docent.db".to_string(), Refusal::DataFolder)]
        );
        // A root inside the data folder reads nothing.
        let inside = PathPolicy::new(&[root.join("app/data/bm25")]).excluding(&data_spelled);
        let found = collect(&root, inside.walk_roots());
        assert!(found.files.is_empty());
        assert_eq!(found.refused.len(), 1);
    }

    #[test]
    fn a_file_root_is_yielded_and_a_missing_one_reported() {
        let (_dir, base) = temp();
        let file = base.join(".hidden-but-chosen.txt");
        std::fs::write(&file, "x").unwrap();
        let missing = base.join("missing");
        let policy = PathPolicy::new(&[file.clone(), missing.clone()]);
        let found = collect(&base, policy.walk_roots());
        assert_eq!(found.files, [".hidden-but-chosen.txt"]);
        assert_eq!(found.errors.len(), 1);
        assert_eq!(found.errors[0].path(), Some(missing.as_path()));
        assert_eq!(found.errors[0].reason(), "file not found");
    }
}
