//! `pads metrics`: every metric for embeddings and labels you bring as .npy files, one set
//! or queries against a gallery, through `eval::evaluate_sets`.
use crate::eval::query_gallery::{same_file, EvalSet, QueryGalleryMetrics};
use crate::eval::{evaluate_sets, EvalOptions, Evaluation, Gallery, MetricValues};
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::Device;

/// Every metric (`eval::evaluate` with `opts`) of the embeddings in `embeddings` (float
/// `[N, D]` .npy) and the labels in `labels` (integer `[N]` .npy), computed on `device`.
/// Errors: unreadable or malformed files (named), a label count other than N, and those of
/// `eval::evaluate` (with both file names).
pub fn metrics_from_files(embeddings: &Path, labels: &Path, opts: &EvalOptions, device: Device) -> Result<MetricValues> {
    let emb = crate::eval::input::read_embeddings(embeddings)?;
    let labels_v = crate::eval::input::read_labels(labels, Some(emb.size()[0] as usize))?;
    let name = embeddings.display().to_string();
    let emb = emb.to_device(device);
    match evaluate_sets(&EvalSet { embeddings: &emb, labels: &labels_v, name: &name }, None, opts).with_context(|| format!("{} with {}", embeddings.display(), labels.display()))? {
        Evaluation::OneSet(m) => Ok(m),
        Evaluation::QueryGallery(_) => unreachable!("no gallery given"),
    }
}

/// `pads metrics --query-embeddings Q --query-labels QL --gallery-embeddings G
/// --gallery-labels GL`: loads the four files and computes `query_gallery_from_tensors`.
/// Query and gallery are the same set exactly when both pairs name the same files (then
/// self-matches are left out); the same embeddings file with different label files is
/// refused. Files are read and checked as in single-set `pads metrics` (`eval::input`:
/// NaN/Inf rows, label dtype and count), then checked and normalised (with `normalize`) by
/// `query_gallery_from_tensors`, the files' paths naming the sets in its messages.
pub fn query_gallery_from_files(q: &Path, ql: &Path, g: &Path, gl: &Path, ks: &[usize], normalize: bool, skip_lone: bool) -> Result<QueryGalleryMetrics> {
    let same_emb = same_file(q, g);
    let same_labels = same_file(ql, gl);
    if same_emb != same_labels {
        bail!(
            "--query-embeddings/--gallery-embeddings {} the same file but --query-labels/--gallery-labels {}: give both pairs the same files (one set, self-matches left out) or two separate sets",
            if same_emb { "name" } else { "do not name" },
            if same_labels { "do" } else { "do not" }
        );
    }
    let load = |e: &Path, l: &Path| -> Result<(tch::Tensor, Vec<i64>, String)> {
        let t = crate::eval::input::read_embeddings(e)?;
        let labels = crate::eval::input::read_labels(l, Some(t.size()[0] as usize))?;
        Ok((t, labels, e.display().to_string()))
    };
    let (qt, qlab, qname) = load(q, ql)?;
    let query = EvalSet { embeddings: &qt, labels: &qlab, name: &qname };
    let mut opts = EvalOptions::new(ks.to_vec());
    opts.normalize = normalize;
    opts.skip_lone_queries = skip_lone;
    let other = if same_emb { None } else { Some(load(g, gl)?) };
    let other_set = other.as_ref().map(|(t, l, n)| EvalSet { embeddings: t, labels: l, name: n });
    let gallery = match &other_set {
        None => Gallery::QuerySet,
        Some(set) => Gallery::Set(set),
    };
    match evaluate_sets(&query, Some(gallery), &opts)? {
        Evaluation::QueryGallery(m) => Ok(m),
        Evaluation::OneSet(_) => unreachable!("a gallery was given"),
    }
}
