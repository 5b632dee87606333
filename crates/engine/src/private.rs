//! The data folder is private to the user: it holds the text of every indexed document, the
//! conversations and the settings. The folder is created 0700 and what the engine keeps in it
//! loses any group or other access when the engine opens it, also when it was made earlier with
//! looser modes (by an older Docent, a backup restore, or by hand). Only the group and other
//! bits are taken away: an owner who made the folder read-only keeps it read-only.

use std::path::Path;

use crate::EngineError;

/// Creates `dir` (and missing parents) private to the user, or makes an existing one private.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), EngineError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| EngineError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // The data folder itself may be a link the user made to another disk: its target is made
    // private. Inside it, links are never followed (see `restrict_tree`).
    let metadata = std::fs::metadata(dir).map_err(|source| EngineError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    restrict(dir, &metadata);
    Ok(())
}

/// Takes group and other access away from `path` and, for a folder, everything in it. Links
/// are left alone (a link's own mode means nothing, and its target is not the engine's).
pub(crate) fn restrict_tree(path: &Path) -> Result<(), EngineError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(EngineError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    restrict(path, &metadata);
    if metadata.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            restrict_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// Clears the group and other bits of one file or folder. A filesystem without Unix modes
/// (or a folder owned by someone else) cannot be made private: that is logged, not fatal, as
/// the files are still the user's own.
#[cfg(unix)]
fn restrict(path: &Path, metadata: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
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
fn restrict(_path: &Path, _metadata: &std::fs::Metadata) {}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use crate::{Engine, EngineConfig};

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every file and folder under `dir`, links excluded.
    fn tree(dir: &Path) -> Vec<std::path::PathBuf> {
        let metadata = std::fs::symlink_metadata(dir).unwrap();
        if metadata.is_symlink() {
            return Vec::new();
        }
        let mut out = vec![dir.to_path_buf()];
        if metadata.is_dir() {
            for entry in std::fs::read_dir(dir).unwrap() {
                out.extend(tree(&entry.unwrap().path()));
            }
        }
        out
    }

    fn assert_private(data: &Path) {
        assert_eq!(mode(data), 0o700, "{}", data.display());
        for name in ["docent.db", "docent.db-wal", "docent.db-shm", "lock"] {
            let path = data.join(name);
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        for index in ["bm25", "vectors"] {
            for path in tree(&data.join(index)) {
                assert_eq!(mode(&path) & 0o077, 0, "{}", path.display());
            }
        }
    }

    #[test]
    fn a_new_data_folder_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let engine = Engine::open(EngineConfig::new(data.clone())).unwrap();
        assert_private(&data);
        drop(engine);
    }

    #[test]
    fn an_existing_data_folder_with_loose_modes_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        drop(Engine::open(EngineConfig::new(data.clone())).unwrap());
        set_mode(&data, 0o755);
        for path in tree(&data).into_iter().skip(1) {
            let loose = if path.is_dir() { 0o755 } else { 0o644 };
            set_mode(&path, loose);
        }
        assert_eq!(mode(&data.join("docent.db")), 0o644);
        // A link inside the folder to something of the user's is not the engine's to change.
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "mine").unwrap();
        set_mode(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, data.join("bm25/link")).unwrap();

        let engine = Engine::open(EngineConfig::new(data.clone())).unwrap();
        assert_private(&data);
        assert_eq!(mode(&outside), 0o644);
        drop(engine);
    }

    #[test]
    fn a_folder_created_by_hand_before_the_first_open_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        set_mode(&data, 0o755);
        let engine = Engine::open(EngineConfig::new(data.clone())).unwrap();
        assert_private(&data);
        drop(engine);
    }
}
