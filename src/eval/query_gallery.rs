//! Retrieval metrics of queries against a separate gallery (the In-Shop protocol, `pads
//! metrics --query-* --gallery-*`), with pytorch-metric-learning's reference-set semantics
//! (AccuracyCalculator.get_accuracy(query, reference, ..., ref_includes_query)):
//!
//! - `same_set = false` (the gallery does not contain the queries): every gallery item is a
//!   candidate, an identical vector included;
//! - `queries_first = true` (the queries are the gallery's first rows: the same set, or PML's
//!   `ref_includes_query` with more gallery rows after them): query i's own row i is left out
//!   of its neighbours and out of its relevant count;
//! - R(q) = the number of gallery items with the query's label (less the query itself with
//!   queries_first). Queries with R = 0 ("lone" queries: their label is absent from the
//!   gallery) are counted; mAP@R leaves them out, Recall@k too with `skip_lone` (PML's rule,
//!   the default of `pads metrics`), else Recall@k counts them as misses (the original's
//!   rule). When every query is lone, Recall@k and mAP@R are undefined (NaN).
//! - Recall@k: share of queries (non-lone ones with `skip_lone`) with a same-label item
//!   among their k nearest.
//! - mAP@R (Musgrave et al., "A Metric Learning Reality Check", ECCV 2020): mean over
//!   queries of (1/R) sum_{j <= R} precision@j * relevant(j).
//!
//! Neighbours are exact under squared Euclidean distance, ties to the lower gallery index
//! (eval::search, or eval::knn when the gallery is the query set).
use anyhow::{bail, ensure, Result};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueryGalleryMetrics {
    /// (k, Recall@k) over every query, or over the non-lone ones with `skip_lone`.
    pub recall: Vec<(usize, f64)>,
    pub map_at_r: f64,
    pub queries: usize,
    pub gallery: usize,
    /// Queries whose label has no (other) item in the gallery: left out of mAP@R, and of
    /// Recall@k with `skip_lone` (else misses there).
    pub lone_queries: usize,
    /// The gallery is the query set itself.
    pub same_set: bool,
    /// Query i is gallery row i and is left out of its own ranking (same_set, or PML's
    /// `ref_includes_query`).
    pub ref_includes_query: bool,
    /// What the caller must tell the user (rows L2-normalised), one line each.
    pub warnings: Vec<String>,
}

impl QueryGalleryMetrics {
    /// (name, value) in print order: recall@k..., map@r.
    pub fn named(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self.recall.iter().map(|(k, v)| (format!("recall@{k}"), *v)).collect();
        out.push(("map@r".into(), self.map_at_r));
        out
    }

    /// The object `pads metrics --json` prints in query/gallery mode: recall@k..., map@r,
    /// queries, gallery, lone_queries, same_set, ref_includes_query (an undefined metric is
    /// null).
    pub fn to_json(&self) -> serde_json::Value {
        let mut obj: serde_json::Map<String, serde_json::Value> = self.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect();
        obj.insert("queries".into(), serde_json::json!(self.queries));
        obj.insert("gallery".into(), serde_json::json!(self.gallery));
        obj.insert("lone_queries".into(), serde_json::json!(self.lone_queries));
        obj.insert("same_set".into(), serde_json::json!(self.same_set));
        obj.insert("ref_includes_query".into(), serde_json::json!(self.ref_includes_query));
        serde_json::Value::Object(obj)
    }
}

/// Recall@k for each of `ks` and mAP@R of row-major `query` [m, dim] (labels
/// `query_labels`) against `gallery` [n, dim] (`gallery_labels`), semantics in the module
/// doc. `queries_first`: the gallery's first m rows are the queries (within 1e-5 relative,
/// as PML's `allclose`; labels equal). Errors: shapes or label counts that do not match,
/// k = 0 or k larger than the candidates per query (n, or n - 1 with queries_first), or
/// queries_first with a gallery that does not start with the queries. No query with a
/// relevant gallery item is not an error: every metric is NaN (undefined).
#[allow(clippy::too_many_arguments)]
pub fn query_gallery_metrics(query: &[f32], query_labels: &[i64], gallery: &[f32], gallery_labels: &[i64], dim: usize, ks: &[usize], queries_first: bool, skip_lone: bool) -> Result<QueryGalleryMetrics> {
    ensure!(dim >= 1, "embeddings need at least one column");
    let (m, n) = (query.len() / dim, gallery.len() / dim);
    ensure!(query.len() == m * dim && gallery.len() == n * dim, "embeddings are not rows of {dim} values");
    ensure!(m == query_labels.len(), "query embeddings have {m} rows but there are {} query labels", query_labels.len());
    ensure!(n == gallery_labels.len(), "gallery embeddings have {n} rows but there are {} gallery labels", gallery_labels.len());
    ensure!(m >= 1 && n >= 1, "need at least one query and one gallery item");
    if queries_first {
        let close = n >= m && query.iter().zip(gallery).all(|(a, b)| (a - b).abs() <= 1e-8 + 1e-5 * b.abs()) && query_labels == &gallery_labels[..m.min(n)];
        ensure!(close, "the gallery's first {m} rows (embeddings and labels) must be the {m} queries when the queries are in the gallery (ref_includes_query)");
    }
    let same_set = queries_first && n == m;
    let candidates = if queries_first { n - 1 } else { n };
    let ks = super::unique_ks(ks);
    let ks = ks.as_slice();
    ensure!(!ks.is_empty(), "{}: give at least one k", crate::options::opt("k"));
    for &k in ks {
        if k == 0 || k > candidates {
            bail!(
                "{}: Recall@k needs 1 <= k <= {candidates} (gallery items per query{})",
                crate::options::spell("k", Some(&k.to_string())),
                if queries_first { ", the query itself left out" } else { "" }
            );
        }
    }
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for &l in gallery_labels {
        *counts.entry(l).or_insert(0) += 1;
    }
    let r_of = |i: usize| counts.get(&query_labels[i]).copied().unwrap_or(0) - usize::from(queries_first);
    let max_r = (0..m).map(r_of).max().unwrap_or(0);
    let kmax = ks.iter().copied().max().unwrap_or(1).max(max_r).min(candidates).max(1);
    // Neighbour rows (gallery indices), nearest first.
    let rows: Vec<Vec<usize>> = if same_set {
        let t = tch::Tensor::from_slice(gallery).view([n as i64, dim as i64]);
        let nn = super::knn::nearest_neighbours(&t, kmax);
        (0..m).map(|i| nn.row(i).iter().map(|&j| j as usize).collect()).collect()
    } else if queries_first {
        // One more neighbour, then the query's own row out (kept in order).
        super::search::search_in_memory(query, gallery, dim, (kmax + 1).min(n), super::search::GALLERY_CHUNK_ROWS)?
            .into_iter()
            .enumerate()
            .map(|(i, h)| h.into_iter().map(|x| x.index).filter(|&j| j != i).take(kmax).collect())
            .collect()
    } else {
        super::search::search_in_memory(query, gallery, dim, kmax, super::search::GALLERY_CHUNK_ROWS)?
            .into_iter()
            .map(|h| h.into_iter().map(|x| x.index).collect())
            .collect()
    };
    let mut hits = vec![0usize; ks.len()];
    let mut ap_sum = 0.0;
    let mut counted = 0usize;
    for (i, row) in rows.iter().enumerate() {
        let r = r_of(i);
        if r == 0 {
            continue;
        }
        counted += 1;
        let rel: Vec<bool> = row.iter().map(|&j| gallery_labels[j] == query_labels[i]).collect();
        for (h, &k) in hits.iter_mut().zip(ks) {
            if rel[..k.min(rel.len())].iter().any(|&x| x) {
                *h += 1;
            }
        }
        let mut found = 0usize;
        let mut ap = 0.0;
        for (j, &x) in rel.iter().take(r).enumerate() {
            if x {
                found += 1;
                ap += found as f64 / (j + 1) as f64;
            }
        }
        ap_sum += ap / r as f64;
    }
    // Every query lone: nothing to average (0 / 0), undefined.
    let undefined = counted == 0;
    Ok(QueryGalleryMetrics {
        recall: ks.iter().zip(&hits).map(|(&k, &h)| (k, if undefined { f64::NAN } else { h as f64 / if skip_lone { counted } else { m } as f64 })).collect(),
        map_at_r: if undefined { f64::NAN } else { ap_sum / counted as f64 },
        queries: m,
        gallery: n,
        lone_queries: m - counted,
        same_set,
        ref_includes_query: queries_first,
        warnings: Vec::new(),
    })
}

/// Whether two files are the same file (same canonical path).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// One set of a query/gallery evaluation, as `query_gallery_from_tensors` takes it:
/// embeddings `[N, D]` (any float kind, any device), one integer label per row, and the name
/// messages give the set (a file path for `pads metrics`, "gallery embeddings" in Python).
pub struct EvalSet<'a> {
    pub embeddings: &'a tch::Tensor,
    pub labels: &'a [i64],
    pub name: &'a str,
}

/// The checks and normalisation of `pads metrics --query-* --gallery-*`, on tensors (the CLI
/// reads its files into these; the Python `pads.evaluate(..., gallery_embeddings=...)` passes
/// its tensors): each set must be 2-D float, finite (`eval::check_finite`) and have one label
/// per row; with `normalize` its rows are L2-normalised as `eval::evaluate` does (an all-zero
/// row is an error; rows that were not unit-norm are counted in a warning), without it raw
/// Euclidean distances are kept. `gallery = None`: the query set is its own gallery
/// (`same_set`, self-matches left out); `queries_first` with a gallery: its first rows are
/// the queries (PML's `ref_includes_query`), each left out of its own ranking. Then
/// `query_gallery_metrics`; `warnings` gets the normalisation lines and, when some queries
/// have no same-label gallery item, that count (and when all have none, that every metric
/// is undefined).
pub fn query_gallery_from_tensors(query: &EvalSet, gallery: Option<&EvalSet>, queries_first: bool, ks: &[usize], normalize: bool, skip_lone: bool) -> Result<QueryGalleryMetrics> {
    use anyhow::Context;
    use tch::Kind;
    let mut warnings = Vec::new();
    let prepare = |s: &EvalSet, warnings: &mut Vec<String>| -> Result<(Vec<f32>, usize)> {
        let t = s.embeddings;
        if t.dim() != 2 {
            bail!("{}: expected a 2-D [N, D] array, got shape {:?}", s.name, t.size());
        }
        if !matches!(t.kind(), Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16) {
            bail!("{}: expected float embeddings, got {:?}", s.name, t.kind());
        }
        let (n, dim) = (t.size()[0] as usize, t.size()[1] as usize);
        ensure!(dim >= 1, "{}: embeddings have 0 columns (shape {:?})", s.name, t.size());
        super::check_finite(t).with_context(|| format!("{}: embeddings must be finite", s.name))?;
        if s.labels.len() != n {
            bail!("{}: {} labels, but the embeddings have {n} rows; expected one label per row", s.name, s.labels.len());
        }
        let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float);
        let t = if normalize {
            let (t, off) = super::normalize_rows(&t).with_context(|| s.name.to_string())?;
            if off > 0 {
                warnings.push(format!(
                    "{}: {off} of {n} rows were not unit-norm and were L2-normalised before every metric ({} keeps raw Euclidean distances)",
                    s.name,
                    crate::options::spell("normalize", Some("false"))
                ));
            }
            t
        } else {
            t
        };
        Ok((Vec::<f32>::try_from(t.contiguous().flatten(0, -1))?, dim))
    };
    let (qe, qd) = prepare(query, &mut warnings)?;
    let (ge, gd, glab) = match gallery {
        None => (qe.clone(), qd, query.labels),
        Some(g) => {
            let (ge, gd) = prepare(g, &mut warnings)?;
            (ge, gd, g.labels)
        }
    };
    if qd != gd {
        bail!("{} is {qd}-d but {} is {gd}-d", query.name, gallery.map_or(query.name, |g| g.name));
    }
    let queries_first = queries_first || gallery.is_none();
    let mut m = query_gallery_metrics(&qe, query.labels, &ge, glab, qd, ks, queries_first, skip_lone).with_context(|| match gallery {
        Some(g) if queries_first => format!("{} in {}", query.name, g.name),
        _ => query.name.to_string(),
    })?;
    if m.lone_queries == m.queries {
        warnings.push(format!(
            "none of the {} queries has a same-label item in the gallery{}: Recall@k and mAP@R are undefined",
            m.queries,
            if queries_first { " other than itself" } else { "" }
        ));
    } else if m.lone_queries > 0 {
        warnings.push(format!(
            "{} of {} queries have no same-label item in the gallery{}: mAP@R leaves them out, Recall@k {}",
            m.lone_queries,
            m.queries,
            if queries_first { " other than themselves" } else { "" },
            if skip_lone { format!("too ({} counts them as misses, as the original does)", crate::options::spell("count_lone_queries", Some("true"))) } else { "counts them as misses (the original's rule)".to_string() }
        ));
    }
    m.warnings = warnings;
    Ok(m)
}
