//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

/// The project's venv python (PADS_PYTHON from the Makefile, else .venv/bin/python).
pub fn python() -> PathBuf {
    std::env::var_os("PADS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

pub fn run_python(script: &str, args: &[&str]) {
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("the project venv's python runs (make setup)");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `pads` binary built for these tests.
pub fn pads_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pads"))
}

/// Runs `pads ARGS` (in `dir` when given, warnings only): (success, stdout, stderr).
pub fn pads_in(dir: Option<&std::path::Path>, args: &[String]) -> (bool, String, String) {
    let mut c = std::process::Command::new(pads_bin());
    c.args(args).env("PADS_LOG", "warn");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let out = c.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Checks that every prefix of the file `full` (written to `cut`) below `complete_from`
/// bytes is an error from `read`, never a success or a panic; prefixes from `complete_from`
/// on may read (what follows is padding the format's own reader also does without).
pub fn assert_every_prefix_errors<T>(full: &[u8], cut: &std::path::Path, complete_from: usize, read: impl Fn(&std::path::Path) -> anyhow::Result<T>) {
    for n in 0..full.len() {
        std::fs::write(cut, &full[..n]).unwrap();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(cut).map(|_| ()))) {
            Ok(Err(_)) => {}
            Ok(Ok(())) if n >= complete_from => {}
            Ok(Ok(())) => panic!("{} cut to {n} of {} bytes read without an error", cut.display(), full.len()),
            Err(_) => panic!("{} cut to {n} of {} bytes: panic", cut.display(), full.len()),
        }
    }
}

/// Minimal protobuf reader for TensorBoard event files: (field, wire type, payload) triples.
pub fn protobuf_fields(mut b: &[u8]) -> Vec<(u64, u8, Vec<u8>)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let x = b[0];
            *b = &b[1..];
            v |= ((x & 0x7f) as u64) << shift;
            if x & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let (field, wire) = (key >> 3, (key & 7) as u8);
        let payload = match wire {
            0 => varint(&mut b).to_le_bytes().to_vec(),
            1 => {
                let p = b[..8].to_vec();
                b = &b[8..];
                p
            }
            2 => {
                let n = varint(&mut b) as usize;
                let p = b[..n].to_vec();
                b = &b[n..];
                p
            }
            5 => {
                let p = b[..4].to_vec();
                b = &b[4..];
                p
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((field, wire, payload));
    }
    out
}

/// Runs a fixture script (its source, e.g. `include_str!` of a bench/reference script) with
/// `sys.argv = ['x', DIR]` for a fresh temp DIR, and reads the JSON file `expected` it wrote
/// there (what Python computed, for the test to compare with).
pub fn python_fixtures(script: &str, expected: &str) -> (tempfile::TempDir, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    run_python(&format!("import sys; sys.argv = ['x', {dir:?}]\n{script}"), &[]);
    let json = serde_json::from_str(&std::fs::read_to_string(tmp.path().join(expected)).unwrap()).unwrap();
    (tmp, json)
}
