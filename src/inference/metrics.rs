//! `pads metrics`: every metric for embeddings and labels you bring as .npy files.
use crate::eval::{EvalOptions, MetricValues};
use anyhow::{Context, Result};
use std::path::Path;
use tch::Device;

/// Every metric (`eval::evaluate` with `opts`) of the embeddings in `embeddings` (float
/// `[N, D]` .npy) and the labels in `labels` (integer `[N]` .npy), computed on `device`.
/// Errors: unreadable or malformed files (named), a label count other than N, and those of
/// `eval::evaluate` (with both file names).
pub fn metrics_from_files(embeddings: &Path, labels: &Path, opts: &EvalOptions, device: Device) -> Result<MetricValues> {
    let emb = crate::eval::input::read_embeddings(embeddings)?;
    let labels_v = crate::eval::input::read_labels(labels, Some(emb.size()[0] as usize))?;
    crate::eval::evaluate(&emb.to_device(device), &labels_v, opts).with_context(|| format!("{} with {}", embeddings.display(), labels.display()))
}
