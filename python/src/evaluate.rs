//! The extension's functions: the margin loss and the evaluator (`pads metrics` on tensors),
//! each the library's own computation behind the input checks.
use crate::checks::{check_embeddings, device_name, guard, host_labels, is_integer, value_err};
use pads::eval::query_gallery::EvalSet;
use pads::eval::{evaluate_sets, Gallery};
use pads::miners::Triplets;
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::{Device, Kind};

/// Margin loss (Wu et al. 2017) with per-class beta, the library's `loss::margin_loss`; the
/// result carries autograd into `embeddings` and `beta`.
#[pyfunction]
#[pyo3(signature = (embeddings, anchors, positives, negatives, labels, beta, margin))]
pub fn margin_loss(embeddings: PyTensor, anchors: PyTensor, positives: PyTensor, negatives: PyTensor, labels: PyTensor, beta: PyTensor, margin: f64) -> PyResult<PyTensor> {
    guard("MarginLoss", || {
        const W: &str = "MarginLoss";
        check_embeddings(&embeddings, W)?;
        let labels = host_labels(&labels, &embeddings, W)?;
        let n = embeddings.size()[0];
        let mut idx = Vec::new();
        for (name, t) in [("anchors", &anchors), ("positives", &positives), ("negatives", &negatives)] {
            if t.dim() != 1 || !is_integer(t.kind()) {
                return Err(value_err(format!("{W}: {name} must be a 1-D integer tensor, got {:?} of shape {:?}", t.kind(), t.size())));
            }
            let v: Vec<i64> = Vec::try_from(t.to_device(Device::Cpu).to_kind(Kind::Int64)).map_err(value_err)?;
            if let Some(bad) = v.iter().find(|&&i| i < 0 || i >= n) {
                return Err(value_err(format!("{W}: {name} holds index {bad}, outside the batch of {n}")));
            }
            idx.push(v);
        }
        if idx[0].len() != idx[1].len() || idx[0].len() != idx[2].len() {
            return Err(value_err(format!("{W}: anchors, positives, negatives have lengths {}, {}, {}", idx[0].len(), idx[1].len(), idx[2].len())));
        }
        if beta.dim() != 1 || beta.device() != embeddings.device() {
            return Err(value_err(format!("{W}: beta must be 1-D [n_classes] on the embeddings' device ({}), got shape {:?} on {}", device_name(embeddings.device()), beta.size(), device_name(beta.device()))));
        }
        let n_classes = beta.size()[0];
        if let Some(bad) = labels.iter().find(|&&l| l < 0 || l >= n_classes) {
            return Err(value_err(format!("{W}: label {bad} outside 0..{n_classes} (n_classes); labels must be class ids 0..n_classes-1")));
        }
        let t = Triplets { anchors: idx[0].clone(), positives: idx[1].clone(), negatives: idx[2].clone() };
        let beta = beta.to_kind(embeddings.kind());
        Ok(PyTensor(pads::loss::margin_loss_for_labels(&embeddings, &t, &labels, &beta, margin)))
    })
}

/// `pads metrics` on tensors: (metrics JSON as `pads metrics --json`, warnings).
#[pyfunction]
#[pyo3(signature = (embeddings, labels, ks, nmi, map_at_r, normalize, seed, count_lone_queries))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate(py: Python<'_>, embeddings: PyTensor, labels: PyTensor, ks: Vec<usize>, nmi: bool, map_at_r: bool, normalize: bool, seed: Option<u64>, count_lone_queries: bool) -> PyResult<(String, Vec<String>)> {
    guard("evaluate", || {
        check_embeddings(&embeddings, "evaluate")?;
        let labels = host_labels(&labels, &embeddings, "evaluate")?;
        let mut opts = pads::eval::EvalOptions::new(ks);
        if let Some(s) = seed {
            opts.seed = s;
        }
        opts.normalize = normalize;
        opts.with_map = map_at_r;
        opts.with_nmi = nmi;
        opts.skip_lone_queries = !count_lone_queries;
        let emb = embeddings.detach();
        let m = py
            .allow_threads(move || evaluate_sets(&EvalSet { embeddings: &emb, labels: &labels, name: "embeddings" }, None, &opts))
            .map_err(|e| value_err(format!("evaluate: {e:#}")))?;
        let mut json = m.to_json();
        if let Some(o) = json.as_object_mut() {
            if !nmi {
                o.remove("nmi");
                o.remove("f1");
            }
            if !map_at_r {
                o.remove("map@r");
            }
        }
        Ok((json.to_string(), m.warnings().to_vec()))
    })
}

/// `pads metrics --query-* --gallery-*` on tensors: (metrics JSON as its `--json`,
/// warnings). `gallery = None`: the queries are their own gallery (same_set, self-matches
/// left out); `queries_first`: the gallery's first rows are the queries (PML's
/// `ref_includes_query`). Checks, normalisation and metrics are the library's
/// (`eval::evaluate_sets`, shared with the CLI's files path).
#[pyfunction]
#[pyo3(signature = (embeddings, labels, gallery_embeddings, gallery_labels, queries_first, ks, map_at_r, normalize, count_lone_queries))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate_query_gallery(
    py: Python<'_>,
    embeddings: PyTensor,
    labels: PyTensor,
    gallery_embeddings: Option<PyTensor>,
    gallery_labels: Option<PyTensor>,
    queries_first: bool,
    ks: Vec<usize>,
    map_at_r: bool,
    normalize: bool,
    count_lone_queries: bool,
) -> PyResult<(String, Vec<String>)> {
    guard("evaluate", || {
        check_embeddings(&embeddings, "evaluate (queries)")?;
        let qlab = host_labels(&labels, &embeddings, "evaluate (queries)")?;
        let gallery = match (gallery_embeddings, gallery_labels) {
            (None, None) => None,
            (Some(g), Some(gl)) => {
                check_embeddings(&g, "evaluate (gallery)")?;
                let glab = host_labels(&gl, &g, "evaluate (gallery)")?;
                Some((g.0.detach(), glab))
            }
            _ => return Err(value_err("evaluate: give both gallery_embeddings and gallery_labels, or neither")),
        };
        let q = embeddings.detach();
        let mut opts = pads::eval::EvalOptions::new(ks);
        opts.normalize = normalize;
        opts.skip_lone_queries = !count_lone_queries;
        let m = py
            .allow_threads(move || {
                let query = EvalSet { embeddings: &q, labels: &qlab, name: "embeddings (queries)" };
                match &gallery {
                    None => evaluate_sets(&query, Some(Gallery::QuerySet), &opts),
                    Some((g, glab)) => {
                        let set = EvalSet { embeddings: g, labels: glab, name: "gallery_embeddings" };
                        evaluate_sets(&query, Some(if queries_first { Gallery::Including(&set) } else { Gallery::Set(&set) }), &opts)
                    }
                }
            })
            .map_err(|e| value_err(format!("evaluate: {e:#}")))?;
        let mut json = m.to_json();
        if !map_at_r {
            if let Some(o) = json.as_object_mut() {
                o.remove("map@r");
            }
        }
        Ok((json.to_string(), m.warnings().to_vec()))
    })
}

