//! One envctl at a time per local environment: `up` and `down` hold an exclusive lock on
//! `.envctl/local/lock` so two runs cannot start two sets of processes.

use std::fs::{File, OpenOptions};

use nix::fcntl::{Flock, FlockArg};

use super::layout::Layout;
use crate::{Error, Result};

/// Held for the duration of `up` or `down`; released when dropped (or when envctl exits).
pub(super) struct LocalLock {
    _lock: Flock<File>,
}

impl LocalLock {
    /// Takes the lock, or fails at once naming the reason when another run holds it.
    pub(super) fn acquire(layout: &Layout) -> Result<LocalLock> {
        std::fs::create_dir_all(layout.dir())
            .map_err(Error::io(format!("creating {}", layout.dir().display())))?;
        let path = layout.dir().join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(format!("opening {}", path.display())))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(LocalLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Error::Local {
                message: format!(
                    "another envctl is already starting or stopping this environment (lock {})",
                    path.display()
                ),
                help: Some("wait for it to finish, then run the command again".into()),
            }),
            Err((_, errno)) => Err(Error::Io {
                context: format!("locking {}", path.display()),
                source: std::io::Error::from(errno),
            }),
        }
    }
}
