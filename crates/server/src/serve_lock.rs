//! One `serve` per SQLite database: an exclusive lock on `<database file>.serve.lock`.
//!
//! SQLite is shared by processes on one host only, and jiragate's in-process caches (refresh
//! single flight, hot cache) assume one server per database file: a second `serve` on the same
//! data dir is refused with who holds it. PostgreSQL needs no lock (instances coordinate through
//! the database). The OS releases the lock when the process ends, so a crash never leaves a
//! stale lock behind; the file's text only names the holder.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Held for the life of the server.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
    pub path: PathBuf,
}

impl ServeLock {
    pub fn acquire(db: &Path, addr: SocketAddr) -> anyhow::Result<ServeLock> {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(".serve.lock");
        let path = db.with_file_name(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "another `jiragate serve` is already using {} ({}); stop it first, or give this one its own --data-dir (several instances on one database need PostgreSQL)",
                    db.display(),
                    if holder.is_empty() {
                        format!("it holds {}", path.display())
                    } else {
                        format!("{holder}, lock {}", path.display())
                    }
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let started = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let text = format!(
            "pid {}, started {started}, listening on {addr}",
            std::process::id()
        );
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .and_then(|_| file.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(ServeLock { _file: file, path })
    }
}
