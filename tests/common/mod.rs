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
