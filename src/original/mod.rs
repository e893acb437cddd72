//! Run folders written by the original PADS code (Roth, Milbich & Ommer, CVPR 2020): what
//! its auxiliaries.set_logging and set_checkpoint leave behind, read without writing into
//! the folder and without running anything from its pickles.
//!
//! - `hypa.pkl`: the argparse Namespace of main.py (`pickle.dump`), read as a RunConfig
//!   (config::namespace);
//! - `checkpoint_Class.pth.tar`: `torch.save({'state_dict', 'opt', 'progress', 'aux'})` at
//!   the best test Recall@1 (evaluate.py), either torch format: the network (keys under
//!   `model.`, ResNet50 blocks repeated as `layer_blocks.N`), the logger's Progress_Saver
//!   objects (history up to that epoch) and, for a learned-sampler run, the policy;
//! - `distr_progression.pkl`: the sampling distribution after each policy update.
//!
//! Layer 4, beside inference/: it builds models (model/) and configs (config/) and reads
//! pickles (model::torchfile); `pads import` (import.rs) writes a pads run folder from it.
pub mod history;
pub mod import;

use crate::config::namespace::{config_from_namespace, FromNamespace, OptValue};
use crate::model::torchfile::{read_torch_file, Value};
use crate::model::{EmbeddingNet, ModelOptions};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

/// The checkpoint the original writes (evaluate.py: `checkpoint_{evaltype}.pth.tar`, and
/// main.py evaluates the 'Class' embedding only).
pub const CHECKPOINT: &str = "checkpoint_Class.pth.tar";
pub const HYPA: &str = "hypa.pkl";
pub const DISTRIBUTIONS: &str = "distr_progression.pkl";

/// Whether `dir` is a folder the original wrote: hypa.pkl and no pads config.toml.
pub fn is_original_folder(dir: &Path) -> bool {
    crate::run::folder::is_original_run_folder(dir)
}

/// An original run folder (paths only; nothing is read until asked).
#[derive(Debug, Clone)]
pub struct OriginalRun {
    pub root: PathBuf,
}

/// What the original's checkpoint holds, read by meaning.
pub struct OriginalCheckpoint {
    /// The network's tensors under pads' names (module doc: prefix and duplicates removed).
    pub model: HashMap<String, Tensor>,
    /// The policy's tensors (`aux`) under pads' names; None for a fixed-sampler run.
    pub policy: Option<HashMap<String, Tensor>>,
    /// The logger's history (`progress`); None when absent or unreadable (the reason).
    pub progress: std::result::Result<history::Progress, String>,
    /// The epoch the checkpoint was saved at (0-based, as the original counts), if the
    /// history says.
    pub epoch: Option<usize>,
}

impl OriginalRun {
    /// Errors: `dir` is not a folder holding hypa.pkl (named), or it holds a pads config.toml.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.join(HYPA).is_file() {
            bail!("{} is not a run folder of the original code: it holds no {HYPA}", dir.display());
        }
        if dir.join("config.toml").exists() {
            bail!("{} holds both a pads config.toml and the original's {HYPA}: open it as a pads run", dir.display());
        }
        Ok(OriginalRun { root: dir.to_path_buf() })
    }

    pub fn hypa(&self) -> PathBuf {
        self.root.join(HYPA)
    }

    pub fn checkpoint_path(&self) -> Result<PathBuf> {
        let p = self.root.join(CHECKPOINT);
        if !p.is_file() {
            bail!("{} has no network: {} is missing (the original writes it at the first evaluation)", self.root.display(), p.display());
        }
        Ok(p)
    }

    /// hypa.pkl's fields (the Namespace's `__dict__`), in file order.
    /// Errors name the file: unreadable, not a Namespace-like object.
    pub fn options(&self) -> Result<Vec<(String, OptValue)>> {
        let file = read_torch_file(&self.hypa())?;
        namespace_fields(&file.root).with_context(|| format!("{}: expected the original's argparse Namespace", self.hypa().display()))
    }

    /// The run's options as a pads RunConfig (see `config_from_namespace`).
    pub fn config(&self, data_root: Option<&Path>) -> Result<FromNamespace> {
        config_from_namespace(&self.options()?, &self.hypa(), data_root)
    }

    /// Reads the checkpoint. Errors name the file: unreadable, no `state_dict`, a pickled
    /// value pads would have to run code to build, duplicate blocks that differ.
    pub fn checkpoint(&self) -> Result<OriginalCheckpoint> {
        let path = self.checkpoint_path()?;
        let file = read_torch_file(&path)?;
        let ctx = || path.display().to_string();
        let state = file.req("state_dict")?;
        let model = crate::model::import::normalize_names(&path, tensors_of(state).with_context(ctx)?.into_iter().collect())?;
        let policy = match file.get("aux")? {
            None | Some(Value::None) => None,
            Some(v) => Some(policy_names(tensors_of(v).with_context(|| format!("{}: 'aux' (the policy)", path.display()))?)),
        };
        let progress = match file.get("progress") {
            Ok(Some(v)) => history::Progress::read(v).map_err(|e| format!("{e:#}")),
            Ok(None) => Err("the checkpoint has no 'progress' entry".to_string()),
            Err(e) => Err(format!("{e:#}")),
        };
        let epoch = progress.as_ref().ok().and_then(|p| p.checkpoint_epoch());
        Ok(OriginalCheckpoint { model, policy, progress, epoch })
    }
}

/// The (name, value) fields of a pickled argparse Namespace (any object with a `__dict__`).
pub fn namespace_fields(root: &Value) -> Result<Vec<(String, OptValue)>> {
    let obj = root.as_object()?;
    if obj.class() != "argparse.Namespace" {
        bail!("found a {}, not an argparse.Namespace", obj.class());
    }
    let Some(fields) = obj.fields() else { bail!("a {} without fields", obj.class()) };
    Ok(fields.iter().filter_map(|(k, v)| if let Value::Str(k) = k { Some((k.clone(), opt_value(v))) } else { None }).collect())
}

fn opt_value(v: &Value) -> OptValue {
    match v {
        Value::Bool(b) => OptValue::Bool(*b),
        Value::Int(i) => OptValue::Int(*i),
        Value::Float(f) => OptValue::Float(*f),
        Value::Str(s) => OptValue::Str(s.clone()),
        Value::None => OptValue::None,
        Value::List(items) | Value::Tuple(items) => OptValue::List(items.iter().map(opt_value).collect()),
        other => OptValue::Other(other.kind()),
    }
}

/// A dict of string -> tensor (a state_dict), as (name, tensor) pairs.
fn tensors_of(v: &Value) -> Result<Vec<(String, Tensor)>> {
    v.as_dict()?
        .iter()
        .map(|(k, t)| {
            let name = k.as_str()?.to_string();
            let t = t.as_tensor().with_context(|| format!("entry '{name}'"))?;
            Ok((name, t.shallow_clone()))
        })
        .collect()
}

/// The original policy's names (`network` is an nn.Sequential of Linear and ReLU, so its
/// Linear layers are `network.0`, `network.2`, ...) as pads' (`network0`, `network1`, ...);
/// `action_weights` and `value` are the same.
pub fn policy_names(tensors: Vec<(String, Tensor)>) -> HashMap<String, Tensor> {
    tensors
        .into_iter()
        .map(|(k, t)| {
            let renamed = k
                .strip_prefix("network.")
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(i, field)| i.parse::<usize>().ok().map(|i| format!("network{}.{field}", i / 2)));
            (renamed.unwrap_or(k), t)
        })
        .collect()
}

/// The network of an original run folder, with its options; `data_root` as in
/// `OriginalRun::config`. Every variable of the model must be in the checkpoint, the
/// embedding head included. Errors name the folder and file.
pub fn load_model(dir: &Path, data_root: Option<&Path>, device: Device) -> Result<(FromNamespace, nn::VarStore, EmbeddingNet, OriginalCheckpoint)> {
    let run = OriginalRun::open(dir)?;
    let got = run.config(data_root)?;
    let ck = run.checkpoint()?;
    let (vs, model) = crate::model::empty(&ModelOptions::from(&got.cfg), device);
    let mut tensors = ck.model.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect::<HashMap<_, _>>();
    tensors.retain(|k, _| !k.ends_with("num_batches_tracked"));
    let ck_path = run.checkpoint_path()?;
    let mut missing: Vec<String> = vs.variables().into_keys().filter(|k| !tensors.contains_key(k)).collect();
    if !missing.is_empty() {
        missing.sort();
        bail!(
            "{}: lacks {} of the {} tensors the network of {} needs ({} {}, embed_dim {}), e.g. {}",
            ck_path.display(),
            missing.len(),
            vs.variables().len(),
            run.hypa().display(),
            got.cfg.arch.as_str(),
            got.cfg.dataset.as_str(),
            got.cfg.embed_dim,
            missing.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let vars = vs.variables();
    let mut unexpected: Vec<&String> = tensors.keys().filter(|k| !vars.contains_key(*k)).collect();
    if !unexpected.is_empty() {
        unexpected.sort();
        bail!(
            "{}: holds {} tensor(s) the {} network of {} does not have, e.g. {}",
            ck_path.display(),
            unexpected.len(),
            got.cfg.arch.as_str(),
            run.hypa().display(),
            unexpected.iter().take(5).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    crate::ops::load_into_varstore(&vs, &tensors, "model").with_context(|| format!("{} does not fit the options in {}", ck_path.display(), run.hypa().display()))?;
    Ok((got, vs, model, ck))
}

