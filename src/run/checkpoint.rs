//! Checkpoints: one safetensors file holding every tensor group under a prefix
//! (`model.`, `beta.`, `optim_model.`, ...) and the plain-data state as JSON in the file's
//! metadata. Written atomically (temporary file, fsync, rename), so a crash mid-write
//! leaves the previous checkpoint intact.
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};

pub struct Checkpoint {
    pub tensors: HashMap<String, Tensor>,
    pub state: serde_json::Value,
}

fn dtype(kind: Kind) -> Result<Dtype> {
    Ok(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        k => bail!("cannot checkpoint tensors of kind {k:?}"),
    })
}

fn kind(dtype: Dtype) -> Result<Kind> {
    Ok(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        d => bail!("unsupported tensor type {d:?} in checkpoint"),
    })
}

impl Checkpoint {
    pub fn new(state: serde_json::Value) -> Self {
        Checkpoint { tensors: HashMap::new(), state }
    }

    pub fn add_group(&mut self, prefix: &str, tensors: impl IntoIterator<Item = (String, Tensor)>) {
        for (name, t) in tensors {
            self.tensors.insert(format!("{prefix}.{name}"), t);
        }
    }

    /// The tensors under `prefix.`, with the prefix removed.
    pub fn group(&self, prefix: &str) -> HashMap<String, Tensor> {
        let p = format!("{prefix}.");
        self.tensors
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&p).map(|rest| (rest.to_string(), v.shallow_clone())))
            .collect()
    }

    /// Writes the checkpoint atomically (see `to_bytes`).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::util::write_atomic(path, &self.to_bytes()?)
    }

    /// The checkpoint as safetensors bytes (tensors sorted by name: the same checkpoint gives
    /// the same bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut host: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.detach().to_device(tch::Device::Cpu).contiguous()))
            .collect();
        host.sort_by(|a, b| a.0.cmp(&b.0));
        let mut buffers = Vec::with_capacity(host.len());
        for (name, t) in &host {
            let numel = t.numel();
            let bytes_per = t.kind().elt_size_in_bytes();
            let mut buf = vec![0u8; numel * bytes_per];
            t.copy_data_u8(&mut buf, numel);
            buffers.push((name.clone(), dtype(t.kind())?, t.size().iter().map(|&s| s as usize).collect::<Vec<_>>(), buf));
        }
        let views: Vec<(String, TensorView)> = buffers
            .iter()
            .map(|(n, d, s, b)| Ok((n.clone(), TensorView::new(*d, s.clone(), b)?)))
            .collect::<Result<_>>()?;
        let meta: HashMap<String, String> = [("pads_state".to_string(), self.state.to_string())].into();
        Ok(safetensors::serialize(views, &Some(meta))?)
    }

    /// Only the plain-data state of the checkpoint at `path`, read from the file's header
    /// (the tensors are not read).
    ///
    /// Errors: an absent, truncated or foreign file, named.
    pub fn read_state(path: &Path) -> Result<serde_json::Value> {
        use std::io::Read;
        let mut f = std::fs::File::open(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len).with_context(|| format!("{}: truncated checkpoint", path.display()))?;
        let len = u64::from_le_bytes(len);
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len > size.saturating_sub(8) || len > 100_000_000 {
            bail!("{}: not a pads checkpoint (bad safetensors header)", path.display());
        }
        let mut header = vec![0u8; len as usize];
        f.read_exact(&mut header).with_context(|| format!("{}: truncated checkpoint", path.display()))?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).with_context(|| format!("{}: not a pads checkpoint (bad safetensors header)", path.display()))?;
        let text = header["__metadata__"]["pads_state"].as_str().with_context(|| format!("{}: checkpoint has no pads state", path.display()))?;
        serde_json::from_str(text).with_context(|| format!("{}: unreadable pads state", path.display()))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("{}: not a pads checkpoint (bad safetensors header)", path.display()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{}: truncated or corrupt checkpoint", path.display()))?;
        let state_text = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("pads_state").cloned())
            .with_context(|| format!("{}: checkpoint has no pads state", path.display()))?;
        let state = serde_json::from_str(&state_text).with_context(|| format!("{}: unreadable pads state", path.display()))?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let shape: Vec<i64> = view.shape().iter().map(|&s| s as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, kind(view.dtype())?)?;
            tensors.insert(name, t);
        }
        Ok(Checkpoint { tensors, state })
    }
}

pub use crate::ops::{load_into_varstore, varstore_tensors};
