//! Embedding a set of images with a network: the evaluation transform, batches in order,
//! decoded on loader threads.
use super::EmbeddingNet;
use crate::data::loader::{sequential_batches, spawn_loader, ImageStore};
use crate::data::transform::{Mode, Transform};
use crate::progress::Progress;
use anyhow::Result;
use std::sync::Arc;
use tch::{Device, Tensor};

/// How to feed the network: input side [pixels], images per batch, loader threads (0 = one
/// per core).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedOptions {
    pub image_size: usize,
    pub batch_size: usize,
    pub num_workers: usize,
}

/// Embeds every image of `store` in order (evaluation transform) -> (`[N, D]` on `device`,
/// labels `[N]`). `what` names the bar. Errors: an image that fails to load.
pub fn embed_store(model: &EmbeddingNet, store: &Arc<ImageStore>, opts: &EmbedOptions, device: Device, progress: &Progress, what: &str) -> Result<(Tensor, Vec<i64>)> {
    let batches = sequential_batches(store.len(), opts.batch_size.max(1));
    let bar = progress.bar(batches.len() as u64, what);
    let loader = spawn_loader(store.clone(), batches, Transform::new(opts.image_size, Mode::Eval).with_normalization(model.input_normalization()), 0, opts.num_workers, 2);
    let mut parts = Vec::new();
    let mut labels = Vec::new();
    for batch in loader {
        let batch = batch?;
        let emb = tch::no_grad(|| model.forward(&batch.images.to_device(device)));
        parts.push(emb);
        labels.extend(batch.labels);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((Tensor::cat(&parts, 0), labels))
}
