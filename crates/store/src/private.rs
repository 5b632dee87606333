//! The database files are private to the user (no group or other access).

use std::path::Path;

/// Creates an empty `path` with mode 0600 when it does not exist; SQLite takes an empty file
/// for a new database. An existing file is left to [`restrict`].
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Clears the group and other bits of `path` when it exists. A filesystem without Unix modes
/// cannot make it private: that is logged, not fatal, as the file is still the user's own.
/// Only the group and other bits go: a file the owner made read-only stays read-only.
#[cfg(unix)]
pub(crate) fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return;
    };
    if metadata.file_type().is_symlink() {
        return;
    }
    let mode = metadata.permissions().mode() & 0o7777;
    let private = mode & !0o077;
    if private == mode {
        return;
    }
    if let Err(error) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)) {
        tracing::warn!(path = %path.display(), %error, "cannot make private");
    }
}

#[cfg(not(unix))]
pub(crate) fn restrict(_path: &Path) {}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use crate::Store;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    #[tokio::test]
    async fn the_database_and_its_journal_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docent.db");
        let store = Store::open(&path).await.unwrap();
        store.set_setting("k", "v").await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = with_suffix(&path, suffix);
            assert!(file.exists(), "{}", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        drop(store);

        // Files an earlier version or a restore left readable by everyone are made private.
        for suffix in ["", "-wal", "-shm"] {
            let file = with_suffix(&path, suffix);
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("v"));
        for suffix in ["", "-wal", "-shm"] {
            let file = with_suffix(&path, suffix);
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
}
