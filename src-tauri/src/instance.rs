//! One app per data folder: the first instance listens on a Unix socket in the data folder; a
//! second launch connects, asks it to come to the front, and exits.
//!
//! Keyed by the data folder (not the app id), so two libraries can be open side by side, and
//! independent of a D-Bus session bus (absent under Xvfb and in minimal desktops).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SOCKET_NAME: &str = "desktop.sock";
const FOCUS: &[u8] = b"focus\n";

/// What start-up found.
pub enum Instance {
    /// This process is the first: it owns the listener.
    First(UnixListener),
    /// Another instance runs on this data folder and was asked to come to the front.
    Focused,
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Becomes the data folder's instance, or hands over to the running one.
pub fn claim(data_dir: &Path) -> std::io::Result<Instance> {
    // Private from the start, as `Engine::open` (which runs next) makes it in any case.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(data_dir)?;
    let path = socket_path(data_dir);
    if let Ok(mut stream) = UnixStream::connect(&path) {
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(FOCUS)?;
        return Ok(Instance::Focused);
    }
    // Nobody answered: a socket file left by a crashed instance.
    let _ = std::fs::remove_file(&path);
    Ok(Instance::First(UnixListener::bind(&path)?))
}

/// Calls `on_focus` for every later launch, on a thread of its own.
pub fn serve(listener: UnixListener, on_focus: impl Fn() + Send + 'static) {
    std::thread::Builder::new()
        .name("docent-instance".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 16];
                let n = stream.read(&mut buf).unwrap_or(0);
                if &buf[..n] == FOCUS {
                    on_focus();
                }
            }
        })
        .expect("spawn instance thread");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_second_launch_focuses_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let Instance::First(listener) = claim(dir.path()).unwrap() else {
            panic!("the first claim must own the folder");
        };
        let (tx, rx) = mpsc::channel();
        serve(listener, move || tx.send(()).unwrap());
        assert!(matches!(claim(dir.path()).unwrap(), Instance::Focused));
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the first instance was asked to come to the front");
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        drop(UnixListener::bind(socket_path(dir.path())).unwrap());
        assert!(matches!(claim(dir.path()).unwrap(), Instance::First(_)));
    }
}
