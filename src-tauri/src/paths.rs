//! Which paths the page may name: only those under folders (or files) the user added.
//!
//! The page is untrusted: a path it sends is canonicalised (resolving `..` and symlinks) and
//! must then lie inside an added folder. A path that no longer exists (a deleted file still in
//! the library) is checked lexically and must not contain `..`.

use std::path::{Component, Path, PathBuf};

use docent_ipc::{ApiError, ErrorKind};

/// True when `path` is `root` or lies under it, comparing whole components.
pub fn is_under(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// Checks a path from the page against the user's roots (already canonical) and returns the
/// path to use.
pub fn allowed(path: &str, roots: &[PathBuf]) -> Result<PathBuf, ApiError> {
    let raw = Path::new(path);
    if path.is_empty() || !raw.is_absolute() {
        return Err(not_allowed(path, "it is not an absolute path"));
    }
    let resolved = match raw.canonicalize() {
        Ok(resolved) => resolved,
        Err(_) => {
            if raw.components().any(|c| matches!(c, Component::ParentDir)) {
                return Err(not_allowed(path, "it contains `..`"));
            }
            raw.to_path_buf()
        }
    };
    if roots.iter().any(|root| is_under(&resolved, root)) {
        Ok(resolved)
    } else {
        Err(not_allowed(path, "it is outside the folders you added"))
    }
}

fn not_allowed(path: &str, why: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotAllowed,
        format!("Docent will not use {path}: {why}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> Vec<PathBuf> {
        vec![dir.join("docs").canonicalize().unwrap()]
    }

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docs/sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("secret")).unwrap();
        std::fs::write(dir.path().join("docs/sub/a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("secret/key.txt"), "k").unwrap();
        dir
    }

    #[test]
    fn paths_inside_a_root_are_allowed() {
        let dir = setup();
        let roots = roots(dir.path());
        let file = dir.path().join("docs/sub/a.txt");
        let got = allowed(file.to_str().unwrap(), &roots).unwrap();
        assert_eq!(got, file.canonicalize().unwrap());
        // A deleted file still in the library can be removed.
        let gone = roots[0].join("gone.pdf");
        assert_eq!(allowed(gone.to_str().unwrap(), &roots).unwrap(), gone);
    }

    #[test]
    fn dot_dot_relative_and_outside_paths_are_refused() {
        let dir = setup();
        let roots = roots(dir.path());
        let escape = format!("{}/docs/../secret/key.txt", dir.path().display());
        let err = allowed(&escape, &roots).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotAllowed);
        let missing_escape = format!("{}/docs/../secret/none.txt", dir.path().display());
        assert!(allowed(&missing_escape, &roots).is_err());
        assert!(allowed("docs/sub/a.txt", &roots).is_err());
        assert!(allowed("", &roots).is_err());
        assert!(allowed("/etc/passwd", &roots).is_err());
        // A sibling whose name starts like the root is not inside it.
        std::fs::create_dir_all(dir.path().join("docs2")).unwrap();
        std::fs::write(dir.path().join("docs2/x.txt"), "x").unwrap();
        let sibling = dir.path().join("docs2/x.txt");
        assert!(allowed(sibling.to_str().unwrap(), &roots).is_err());
    }

    #[test]
    fn symlinks_out_of_a_root_are_refused() {
        let dir = setup();
        let roots = roots(dir.path());
        let link = dir.path().join("docs/link.txt");
        std::os::unix::fs::symlink(dir.path().join("secret/key.txt"), &link).unwrap();
        let err = allowed(link.to_str().unwrap(), &roots).unwrap_err();
        assert!(err.message.contains("outside"), "{}", err.message);
        let dir_link = dir.path().join("docs/sub/up");
        std::os::unix::fs::symlink(dir.path().join("secret"), &dir_link).unwrap();
        let through = dir_link.join("key.txt");
        assert!(allowed(through.to_str().unwrap(), &roots).is_err());
    }
}
