//! One writer per run folder: `pads train` (new run, `--overwrite`, `--resume`) and `pads
//! sweep` hold an exclusive lock on their folder for as long as they write it, so two
//! trainings started at the same moment on one `--out` never mix one run's checkpoints with
//! the other's logs. Readers (`pads eval`, `embed`, `report`) take no lock.
//!
//! The lock is an OS advisory lock (`flock`) on `.pads.lock` in the folder, which the kernel
//! releases when the holder dies, however it dies (SIGKILL included); the file holds the
//! holder's PID and command line, for the message a second writer gets. A lock file left by
//! a killed run therefore never blocks the next one: its PID is named (and whether such a
//! process still runs) when the next writer takes it over.
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a locked folder (kept by `--overwrite`, removed on release).
pub const LOCK_FILE: &str = ".pads.lock";

/// A held lock on a folder; released (and its file removed) when dropped, or by the kernel
/// when the process ends.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// Folders created to take the lock (deepest first): removed again on release when
    /// still empty, so a refused command leaves no empty run folder behind.
    created: Vec<PathBuf>,
}

/// Whether a process with this PID exists (signal 0 probes without sending anything).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for the process; it has no effect on it.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The PID and command recorded in a lock file's text (first line `pid N`, then `command ...`).
fn holder(text: &str) -> (Option<i32>, String) {
    let mut pid = None;
    let mut command = String::new();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("pid ") {
            pid = p.trim().parse().ok();
        } else if let Some(c) = line.strip_prefix("command ") {
            command = c.to_string();
        }
    }
    (pid, command)
}

fn describe(pid: Option<i32>, command: &str) -> String {
    let cmd = if command.is_empty() { String::new() } else { format!(", `{command}`") };
    match pid {
        Some(p) if pid_alive(p) => format!("PID {p}, running{cmd}"),
        Some(p) => format!("PID {p}, not running{cmd}"),
        None => "a process that has not written its PID yet".to_string(),
    }
}

fn flock(file: &File, op: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a file descriptor this File owns.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Whether `file` (open) is still the file at `path` (another holder may have removed and
/// recreated it between our open and our lock).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl RunLock {
    /// Takes the lock of folder `dir` (created when absent) for `what` (e.g. "pads train"),
    /// without waiting.
    ///
    /// Errors: another process holds it: the message names the folder, the holder's PID,
    /// whether it runs and its command line. A folder that cannot be created or a lock file
    /// that cannot be written, named.
    /// Effects: when the lock file was left by a process that ended without releasing it
    /// (killed), prints one line naming its PID and whether such a process runs, and takes
    /// the lock over.
    pub fn acquire(dir: &Path, what: &str) -> Result<RunLock> {
        if dir.exists() && !dir.is_dir() {
            bail!("{} is a file, not a folder", dir.display());
        }
        let created: Vec<PathBuf> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).map(Path::to_path_buf).collect();
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        loop {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open the lock file {} (is the folder writable?)", path.display()))?;
            if let Err(e) = flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                }
                // The holder writes its PID right after locking: give it a moment.
                let mut text = String::new();
                for _ in 0..20 {
                    text.clear();
                    let _ = file.rewind();
                    let _ = file.read_to_string(&mut text);
                    if holder(&text).0.is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let (pid, command) = holder(&text);
                bail!(
                    "{} is in use: another pads process writes it ({}); two runs never write one folder. \
                     Wait for it to end, stop it, or pass another --out",
                    dir.display(),
                    describe(pid, &command)
                );
            }
            if !same_file(&file, &path) {
                continue; // the previous holder removed the file as we opened it: lock the new one
            }
            let mut old = String::new();
            let _ = file.read_to_string(&mut old);
            let (old_pid, old_command) = holder(&old);
            if old_pid.is_some() {
                eprintln!(
                    "{}: taking over the lock left by {} (it ended without releasing it, e.g. killed)",
                    dir.display(),
                    describe(old_pid, &old_command)
                );
            }
            let command: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
            let record = format!("pid {}\ncommand {}\nfor {what}\n", std::process::id(), command.join(" "));
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(record.as_bytes()).with_context(|| format!("cannot write the lock file {}", path.display()))?;
            file.sync_all().ok();
            return Ok(RunLock { file, path, created });
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked: a process waiting on the old file sees it is gone
        // (`same_file`) and locks the new one.
        let _ = std::fs::remove_file(&self.path);
        let _ = flock(&self.file, libc::LOCK_UN);
        for dir in &self.created {
            if std::fs::remove_dir(dir).is_err() {
                break; // not empty: a run wrote there
            }
        }
    }
}
