//! The layer map of docs/architecture.md, enforced: each module of src/ uses only modules of
//! lower layers (inside L3, run/ may use config/), core modules (L0-L2) never name the run
//! configuration, and no source file is over 500 lines.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level module -> layer (docs/architecture.md).
const LAYERS: &[(&str, u8)] = &[
    ("util", 0),
    ("device", 0),
    ("npy", 0),
    ("allocator", 0),
    ("optim", 0),
    ("ops", 0),
    ("options", 0),
    ("progress", 0),
    ("model", 1),
    ("loss", 1),
    ("miners", 1),
    ("eval", 1),
    ("data", 1),
    ("policy", 2),
    ("config", 3),
    ("run", 3),
    ("report", 4),
    ("train", 4),
    ("inference", 4),
    ("original", 4),
    ("sweep", 5),
    ("demo", 5),
    ("bench", 5),
];

/// Uses allowed between modules of one layer (user, used).
const SAME_LAYER: &[(&str, &str)] = &[("run", "config"), ("model", "data"), ("loss", "miners"), ("train", "report"), ("inference", "original"), ("demo", "train"), ("demo", "report"), ("sweep", "train"), ("sweep", "report"), ("bench", "sweep")];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `crate::NAME` paths a file uses (comments stripped), as in
/// shared/tools/structure-check.py.
fn crate_refs(text: &str) -> Vec<String> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut refs = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            refs.extend(inner.split(',').map(|s| s.trim().split("::").next().unwrap_or("").to_string()));
        } else {
            refs.push(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
        }
    }
    refs.retain(|r| !r.is_empty());
    refs
}

#[test]
fn modules_use_only_lower_layers_and_core_never_reads_run_config() {
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(f).unwrap();
        let lines = text.lines().count();
        if lines > 500 {
            problems.push(format!("{} has {lines} lines (at most 500)", rel.display()));
        }
        if top == "main" || top == "lib" || top == "cli" {
            continue;
        }
        let Some(&own) = layer.get(top.as_str()) else {
            problems.push(format!("{}: module {top} has no layer in LAYERS (docs/architecture.md)", rel.display()));
            continue;
        };
        for r in crate_refs(&text) {
            if r == top {
                continue;
            }
            let Some(&other) = layer.get(r.as_str()) else {
                problems.push(format!("{}: uses unknown module crate::{r}", rel.display()));
                continue;
            };
            let allowed = other < own || (other == own && SAME_LAYER.contains(&(top.as_str(), r.as_str())));
            if !allowed {
                problems.push(format!("{} (L{own}) uses crate::{r} (L{other})", rel.display()));
            }
        }
        let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        if own <= 2 && code.contains("RunConfig") {
            problems.push(format!("{}: a core module (L{own}) names RunConfig", rel.display()));
        }
    }
    assert!(files.len() > 40, "found only {} source files", files.len());
    assert!(problems.is_empty(), "layer violations:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_a_violation() {
    // The reader finds both a plain path and a grouped `use`, so a real violation would fail.
    let refs = crate_refs("use crate::{config::RunConfig, data};\nlet x = crate::train::lr_factor(); // crate::demo in a comment");
    assert_eq!(refs, vec!["config", "data", "train"]);
}
