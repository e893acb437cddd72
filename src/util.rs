//! Small shared helpers.

/// SplitMix64 finaliser: a well-mixed 64-bit value from (seed, stream, index), so that every
/// random choice gets its own reproducible generator regardless of thread scheduling.
pub fn mix(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `path` made absolute against the current folder, with `.` and `..` taken out lexically
/// (`/a/b/../data` is `/a/data`; symbolic links are not resolved), so that a stored path does
/// not depend on the folder it was typed from still existing.
pub fn absolute_clean(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::path::Component;
    let abs = std::path::absolute(path)?;
    let mut out = std::path::PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

/// Writes `bytes` to `path` atomically: temporary file in the same folder, fsync, rename.
/// A crash mid-write leaves the previous file intact; a failed write (a full disk) removes
/// its temporary file again, and the error names `path` (the previous file is intact).
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let written = (|| -> anyhow::Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("cannot write {} (fsync)", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write {} (its previous content, if any, is intact)", path.display())));
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `text` as one line of a line-based list (paths.txt, classes.txt): refused when it holds a
/// newline, carriage return or tab, which would split or shift the list. `what` names it in
/// the error.
pub fn list_line(text: &str, what: &str) -> anyhow::Result<String> {
    if text.contains(['\n', '\r', '\t']) {
        anyhow::bail!("{what} {text:?} holds a newline or tab, so it cannot be one line of paths.txt / classes.txt: rename it");
    }
    Ok(text.to_string())
}

/// A path as UTF-8 text for a list file; a name that is not valid UTF-8 is refused (it would
/// be written changed), as is one with a newline or tab (`list_line`).
pub fn path_line(path: &std::path::Path) -> anyhow::Result<String> {
    match path.to_str() {
        Some(s) => list_line(s, "file name"),
        None => anyhow::bail!("file name {:?} is not valid UTF-8, so paths.txt cannot hold it unchanged: rename it", path),
    }
}
