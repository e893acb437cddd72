//! Which model made a set of embeddings: `pads embed` writes it next to them (model.json),
//! and `pads search` checks the gallery's against the model it embeds the queries with, so
//! that a gallery from another run or checkpoint never gives ranks without a word.
use super::LoadedModel;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the identity in an embeddings folder.
pub const FILE: &str = "model.json";

/// The run, checkpoint and epoch of a model, and a fingerprint of its weights (CRC-32C over
/// every variable's name and float32 values, in name order: equal weights, equal
/// fingerprint, whatever the file they came from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub run: String,
    pub checkpoint: String,
    pub epoch: Option<usize>,
    pub weights_crc32c: String,
}

impl ModelIdentity {
    /// One line for messages: "run R, best checkpoint, epoch 7".
    pub fn describe(&self) -> String {
        let epoch = self.epoch.map(|e| format!(", epoch {e}")).unwrap_or_default();
        format!("run {}, {} checkpoint{epoch}", self.run, self.checkpoint)
    }
}

/// The identity of `loaded` (its run folder as an absolute path).
pub fn identity(loaded: &LoadedModel, run_dir: &Path) -> Result<ModelIdentity> {
    let mut vars: Vec<(String, tch::Tensor)> = loaded.vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut crc = 0u32;
    for (name, t) in vars {
        crc = crc32c::crc32c_append(crc, name.as_bytes());
        let values = Vec::<f32>::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).flatten(0, -1))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        crc = crc32c::crc32c_append(crc, &bytes);
    }
    Ok(ModelIdentity {
        run: std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_path_buf()).display().to_string(),
        checkpoint: loaded.which.as_str().to_string(),
        epoch: loaded.epoch,
        weights_crc32c: format!("{crc:08x}"),
    })
}

/// Writes `id` as `dir/model.json`.
pub fn write(dir: &Path, id: &ModelIdentity) -> Result<()> {
    crate::util::write_atomic(&dir.join(FILE), (serde_json::to_string_pretty(id)? + "\n").as_bytes())
}

/// The identity stored in `dir`, None when it has none (embeddings made before pads wrote
/// it, or elsewhere). Errors: a model.json that is not one, naming it.
pub fn read(dir: &Path) -> Result<Option<ModelIdentity>> {
    let path = dir.join(FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map(Some).with_context(|| format!("{} is not the model identity pads embed writes", path.display()))
}
