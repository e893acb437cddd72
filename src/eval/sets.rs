//! The one entry point of evaluation for embeddings a caller brings (`pads metrics`, Python's
//! `pads.evaluate`), after pytorch-metric-learning's `AccuracyCalculator.get_accuracy(query,
//! query_labels, reference, reference_labels, ref_includes_query)`: a query set, and
//! optionally the gallery it is ranked against.
use super::query_gallery::{query_gallery_from_tensors, EvalSet, QueryGalleryMetrics};
use super::{evaluate, EvalOptions, MetricValues};
use anyhow::Result;

/// The gallery the queries are ranked against.
pub enum Gallery<'a> {
    /// The query set itself, each query's own row left out of its neighbours and of its
    /// relevant items (PML's `ref_includes_query`).
    QuerySet,
    /// A separate set: every item is a candidate, an identical vector included.
    Set(&'a EvalSet<'a>),
    /// A set whose first rows are the queries (PML's `ref_includes_query`): query i's row i
    /// is left out of its neighbours and of its relevant items.
    Including(&'a EvalSet<'a>),
}

/// What `evaluate_sets` computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// One set, every item a query against all others: every metric (`MetricValues`).
    OneSet(MetricValues),
    /// Queries against a gallery: Recall@k and mAP@R (`QueryGalleryMetrics`).
    QueryGallery(QueryGalleryMetrics),
}

impl Evaluation {
    /// What the caller must tell the user (normalised rows, undefined metrics, lone queries).
    pub fn warnings(&self) -> &[String] {
        match self {
            Evaluation::OneSet(m) => &m.warnings,
            Evaluation::QueryGallery(m) => &m.warnings,
        }
    }

    /// The object `pads metrics --json` prints: metric names to values (null = undefined),
    /// and for query/gallery also `queries`, `gallery`, `lone_queries` and `same_set`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Evaluation::OneSet(m) => m.to_json(),
            Evaluation::QueryGallery(m) => m.to_json(),
        }
    }
}

/// Every metric of `query` (`[N, D]` float embeddings, any device, one integer label per
/// row) with `opts`:
/// - `gallery` None: one set, every item against all others (`eval::evaluate`: Recall@k,
///   NMI, F1, mAP@R, class distances; rules in its documentation);
/// - `gallery` Some: the queries ranked against the gallery (`query_gallery_from_tensors`:
///   Recall@k and mAP@R with PML's reference-set semantics; `opts.ks`, `opts.normalize` and
///   `opts.skip_lone_queries` apply, k-means does not).
///
/// Errors: shapes, label counts, non-finite or (normalising) all-zero rows, and k values that
/// do not fit, each naming the set.
pub fn evaluate_sets(query: &EvalSet, gallery: Option<Gallery>, opts: &EvalOptions) -> Result<Evaluation> {
    Ok(match gallery {
        None => Evaluation::OneSet(evaluate(query.embeddings, query.labels, opts)?),
        Some(Gallery::QuerySet) => Evaluation::QueryGallery(query_gallery_from_tensors(query, None, true, &opts.ks, opts.normalize, opts.skip_lone_queries)?),
        Some(Gallery::Set(g)) => Evaluation::QueryGallery(query_gallery_from_tensors(query, Some(g), false, &opts.ks, opts.normalize, opts.skip_lone_queries)?),
        Some(Gallery::Including(g)) => Evaluation::QueryGallery(query_gallery_from_tensors(query, Some(g), true, &opts.ks, opts.normalize, opts.skip_lone_queries)?),
    })
}
