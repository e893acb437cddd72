//! Which ImageNet weights a file holds, told by content: the SHA-256 of its bytes against
//! the files pads knows. Their names carry the first hex digits of that hash
//! (torch.hub's convention `name-<sha256 prefix>.pth`, checked by
//! `load_state_dict_from_url(check_hash=True)`), so a renamed file is still recognised and a
//! file of the right name but other bytes is not.
//!
//! The original PADS code loads pretrainedmodels 0.7.4's resnet50 'imagenet' weights, whose
//! URL is torchvision's `resnet50-19c8e357.pth` (pretrainedmodels/models/
//! torchvision_models.py `model_urls`), unchanged at load (RGB, inputs in [0, 1], mean
//! [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]; `fc` only renamed `last_linear`).
//! torchvision re-saved those tensors in the zip format of torch.save as
//! `resnet50-0676ba61.pth` (pytorch/vision#2068), its IMAGENET1K_V1; IMAGENET1K_V2
//! (`resnet50-11ad3fa6.pth`) is a different training recipe. docs/pads.md has the evidence.
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A weights file pads knows: the hex prefix of its SHA-256 (as its published name carries
/// it), its published name, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownWeights {
    pub sha256_prefix: &'static str,
    pub file: &'static str,
    pub description: &'static str,
}

/// The ImageNet files the original code and torchvision publish.
pub const KNOWN_WEIGHTS: [KnownWeights; 4] = [
    KnownWeights {
        sha256_prefix: "19c8e357",
        file: "resnet50-19c8e357.pth",
        description: "torchvision resnet50 as pretrainedmodels 0.7.4 'imagenet' loads it (the original PADS code's weights; legacy file)",
    },
    KnownWeights {
        sha256_prefix: "0676ba61",
        file: "resnet50-0676ba61.pth",
        description: "torchvision resnet50 IMAGENET1K_V1 (the same tensors as resnet50-19c8e357, re-saved in the zip format; reproduces the original)",
    },
    KnownWeights {
        sha256_prefix: "11ad3fa6",
        file: "resnet50-11ad3fa6.pth",
        description: "torchvision resnet50 IMAGENET1K_V2 (a newer training recipe; NOT the original's weights)",
    },
    KnownWeights {
        sha256_prefix: "52deb4733",
        file: "bn_inception-52deb4733.pth",
        description: "pretrainedmodels 0.7.4 bninception 'imagenet' (the original's BN-Inception weights)",
    },
];

/// The SHA-256 of the file's bytes, lower-case hex. Errors: an unreadable file, naming it.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The entry of `table` whose prefix starts `sha256` (hex), if any.
pub fn recognise<'t>(sha256: &str, table: &'t [KnownWeights]) -> Option<&'t KnownWeights> {
    table.iter().find(|k| sha256.starts_with(k.sha256_prefix))
}

/// One line saying which weights `path` holds, by `table`: `resnet50-0676ba61.pth: torchvision
/// ... (sha256 0676ba61...)`, or `unrecognised (sha256 ...)`.
pub fn describe_with(path: &Path, table: &[KnownWeights]) -> Result<String> {
    let sha = sha256_file(path)?;
    Ok(match recognise(&sha, table) {
        Some(k) => format!("{}: {} (sha256 {sha})", k.file, k.description),
        None => format!("unrecognised (sha256 {sha})"),
    })
}

/// `describe_with(path, &KNOWN_WEIGHTS)`, hashed once per path and process (a ResNet50 file
/// is ~100 MB), or `unreadable (...)` when the file cannot be read.
pub fn describe(path: &Path) -> String {
    static CACHE: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    map.entry(path.to_path_buf())
        .or_insert_with(|| describe_with(path, &KNOWN_WEIGHTS).unwrap_or_else(|e| format!("unreadable ({e:#})")))
        .clone()
}
