//! Evaluation (pads-spec.md section 6): exact kNN in chunks (memory O(chunk * N), never
//! N^2), Recall@k, k-means NMI, pairwise F1, mAP@R and the class-distance statistics.
pub mod blas;
pub mod cluster;
pub mod input;
pub mod knn;
pub mod picks;
pub mod query_gallery;
pub mod search;
mod sets;

pub use sets::{evaluate_sets, Evaluation, Gallery};

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Metrics {
    /// (k, Recall@k)
    pub recall: Vec<(usize, f64)>,
    pub nmi: f64,
    pub f1: f64,
    pub map_at_r: f64,
    /// Mean intra-class cosine distance.
    pub intra: f64,
    /// Mean cosine distance between normalised class centroids.
    pub inter: f64,
}

impl Metrics {
    pub fn recall_at(&self, k: usize) -> Option<f64> {
        self.recall.iter().find(|(kk, _)| *kk == k).map(|(_, v)| *v)
    }
    pub fn recall1(&self) -> f64 {
        self.recall.first().map(|r| r.1).unwrap_or(0.0)
    }
    /// (name, value) pairs in a fixed order, for tables and CSV.
    pub fn named(&self) -> Vec<(String, f64)> {
        named_in_order(&self.recall, [self.nmi, self.f1, self.map_at_r, self.intra, self.inter])
    }
    /// `named()` without what `opts` did not compute: mAP@R holds 0.0, not a value, when
    /// `opts.with_map` is false (PADS validation), so it is left out.
    pub fn named_for(&self, opts: &EvalOptions) -> Vec<(String, f64)> {
        self.named().into_iter().filter(|(n, _)| opts.with_map || n != "map@r").collect()
    }
}

/// The one order of metric names (tables, CSV, JSON): recall@k for each k, then nmi, f1,
/// map@r, intra, inter, whatever the value type (f64, or Option<f64> for undefined).
fn named_in_order<T: Copy>(recall: &[(usize, T)], rest: [T; 5]) -> Vec<(String, T)> {
    let mut out: Vec<(String, T)> = recall.iter().map(|(k, v)| (format!("recall@{k}"), *v)).collect();
    out.extend(["nmi", "f1", "map@r", "intra", "inter"].into_iter().map(String::from).zip(rest));
    out
}

/// The one k-means seed rule: every evaluation (training-time test and validation
/// evaluation, `pads eval`, `pads metrics`) seeds k-means with this constant, whatever the
/// run's `--seed`, so the same embeddings always get the same NMI and F1. As in the
/// original, whose faiss k-means uses faiss' fixed default seed (1234) for every run.
/// `pads metrics --seed` overrides it for a robustness check.
pub const KMEANS_SEED: u64 = 1234;

/// Which metrics to compute (k-means is the costly part; PADS validation may skip F1 etc.).
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Recall@k values; each must be >= 1 (k above N - 1 means "all other items").
    pub ks: Vec<usize>,
    /// k-means seed (`KMEANS_SEED` unless a caller overrides it on purpose).
    pub seed: u64,
    pub kmeans_iters: usize,
    pub with_map: bool,
    /// L2-normalise the rows before every metric (DML embeddings are compared as unit
    /// vectors). pads' own model outputs unit vectors, so training-time evaluation leaves
    /// this off; `pads metrics` turns it on unless `--no-normalize`.
    pub normalize: bool,
    /// Compute k-means, NMI and F1 (the costly part); when false they come back as None
    /// and callers must not present them as undefined (the Python `evaluate(nmi=False)`).
    pub with_nmi: bool,
    /// Seed k-means with k-means++ (`--kmeans-plusplus`) instead of k random points.
    pub kmeans_plusplus: bool,
    /// Leave queries whose class has no other item out of Recall@k (pytorch-metric-learning's
    /// rule; `pads metrics` default, `train --skip-lone-queries`). When false they count as
    /// misses, as in the original (`auxiliaries.eval_metrics_one_dataset` divides by every
    /// item). mAP@R leaves them out either way (R = 0 has no precision@R).
    pub skip_lone_queries: bool,
}

impl EvalOptions {
    /// Recall@`ks` (a repeated k once, `unique_ks`), every metric, k-means seeded by the one
    /// rule (`KMEANS_SEED`), rows as given.
    pub fn new(ks: Vec<usize>) -> Self {
        EvalOptions { ks: unique_ks(&ks), seed: KMEANS_SEED, kmeans_iters: KMEANS_ITERS_TEST, with_map: true, normalize: false, with_nmi: true, kmeans_plusplus: false, skip_lone_queries: false }
    }
}

/// `ks` with each k once, in the order first given: a repeated k is computed and reported
/// once (every evaluation entry point and `RunConfig::recall_ks` use this).
pub fn unique_ks(ks: &[usize]) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    ks.iter().copied().filter(|k| seen.insert(*k)).collect()
}

/// k-means iterations on the test split: the original sets `niter = 20`.
pub const KMEANS_ITERS_TEST: usize = 20;
/// k-means iterations on PADS' validation split: the original sets `n_iter = 20`, an
/// attribute faiss.Clustering does not read, so faiss' default `niter` of 25 applies
/// (checked with faiss-cpu 1.15.1, bench/reference/make_fixtures.py).
pub const KMEANS_ITERS_VALIDATION: usize = 25;

/// Every metric with undefined values kept apart: `None` where a metric has no meaning for
/// the given labels (see `evaluate`), plus what the caller should warn about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MetricValues {
    /// (k, Recall@k); None when no query has another item of its class.
    pub recall: Vec<(usize, Option<f64>)>,
    /// None with fewer than 2 classes or when every class has a single item.
    pub nmi: Option<f64>,
    /// As `nmi`.
    pub f1: Option<f64>,
    /// None when no query has another item of its class (or when not computed).
    pub map_at_r: Option<f64>,
    /// None when no class has 2 or more items.
    pub intra: Option<f64>,
    /// None with fewer than 2 classes.
    pub inter: Option<f64>,
    /// Items evaluated (N) and their classes.
    pub items: usize,
    pub classes: usize,
    /// Queries without another item of their class (left out of mAP@R; of Recall@k with
    /// `skip_lone_queries`, else counted there as misses).
    pub lone_queries: usize,
    /// Rows that were not unit-norm (|norm - 1| > 1e-3) and were L2-normalised.
    pub rows_normalized: usize,
    /// One line per fact the user must be told (undefined metrics and why, normalisation,
    /// capped k); callers print them as warnings.
    pub warnings: Vec<String>,
}

impl MetricValues {
    /// Text table: `name  value` per line, "undefined" for an undefined metric.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let named = self.named();
        let w = named.iter().map(|(k, _)| k.len()).max().unwrap_or(0).max(10);
        for (k, v) in named {
            match v {
                Some(v) => out.push_str(&format!("{k:>w$}  {v:.4}\n")),
                None => out.push_str(&format!("{k:>w$}  undefined\n")),
            }
        }
        out
    }

    /// JSON object `{name: value}`, `null` for an undefined metric.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect())
    }

    /// (name, value) pairs in the order of `Metrics::named`; None = undefined.
    pub fn named(&self) -> Vec<(String, Option<f64>)> {
        named_in_order(&self.recall, [self.nmi, self.f1, self.map_at_r, self.intra, self.inter])
    }

    /// The plain-number form used by training logs: an undefined metric becomes NaN (written
    /// as `NaN` in metrics.csv and `null` in JSON), never a number that looks valid.
    pub fn to_metrics(&self) -> Metrics {
        let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
        Metrics {
            recall: self.recall.iter().map(|(k, r)| (*k, v(*r))).collect(),
            nmi: v(self.nmi),
            f1: v(self.f1),
            map_at_r: v(self.map_at_r),
            intra: v(self.intra),
            inter: v(self.inter),
        }
    }
}

/// Rows of `emb` ([N, D] float) that hold NaN or Inf, or whose squared norm overflows
/// float32 (the distances would be Inf/NaN): an error naming the first such row (0-based)
/// and how many there are.
pub fn check_finite(emb: &Tensor) -> anyhow::Result<()> {
    let e = emb.to_kind(Kind::Float);
    let sq = (&e * &e).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let bad_rows = e.isfinite().logical_not().any_dim(1, false).logical_or(&sq.isfinite().logical_not());
    let n_bad = bad_rows.sum(Kind::Int64).int64_value(&[]);
    if n_bad > 0 {
        let first = bad_rows.nonzero().int64_value(&[0, 0]);
        let nonfinite = bool::try_from(e.get(first).isfinite().all()).map(|ok| !ok).unwrap_or(true);
        anyhow::bail!(
            "row {first} (0-based) {}; {n_bad} of {} rows are unusable",
            if nonfinite { "holds NaN or Inf" } else { "has values so large that its squared norm overflows float32" },
            e.size()[0]
        );
    }
    Ok(())
}

/// L2-normalises the rows of `emb` ([N, D] float). Returns the normalised rows and how many
/// were not unit-norm before (|norm - 1| > 1e-3). An all-zero row has no direction: error
/// naming it.
pub fn normalize_rows(emb: &Tensor) -> anyhow::Result<(Tensor, usize)> {
    let zero = emb.eq(0.0).all_dim(1, false);
    let n_zero = zero.sum(Kind::Int64).int64_value(&[]);
    if n_zero > 0 {
        let first = zero.nonzero().int64_value(&[0, 0]);
        anyhow::bail!(
            "row {first} (0-based) is all zeros and cannot be L2-normalised ({n_zero} such rows); pass {} to keep raw distances",
            crate::options::spell("normalize", Some("false"))
        );
    }
    let e = emb.to_kind(Kind::Float);
    let norms = e.norm_scalaropt_dim(2, [1i64].as_slice(), false);
    if norms.eq(0.0).logical_or(&norms.isinf()).any().int64_value(&[]) != 0 {
        // A tiny row's squared norm underflows (a huge one's overflows): divide each row by
        // its largest |value| first, which keeps its direction; such rows are not unit-norm.
        let scale = emb.abs().amax([1i64].as_slice(), true);
        let y = (emb / scale).to_kind(Kind::Float);
        let ny = y.norm_scalaropt_dim(2, [1i64].as_slice(), false);
        let off = (&ny * emb.abs().amax([1i64].as_slice(), false).to_kind(Kind::Double) - 1.0).abs().gt(1e-3).logical_or(&norms.eq(0.0)).logical_or(&norms.isinf());
        return Ok((y / ny.unsqueeze(1), off.sum(Kind::Int64).int64_value(&[]) as usize));
    }
    let off = (&norms - 1.0).abs().gt(1e-3).sum(Kind::Int64).int64_value(&[]) as usize;
    Ok((e / norms.unsqueeze(1), off))
}

/// Every metric for embeddings `[N, D]` (any device) and integer labels (training-log form;
/// undefined values are NaN, see `MetricValues::to_metrics`).
pub fn compute_metrics(emb: &Tensor, labels: &[i64], opts: &EvalOptions) -> anyhow::Result<Metrics> {
    Ok(compute_metrics_and_neighbours(emb, labels, opts)?.0)
}

/// The metrics and the nearest-neighbour lists they were computed from.
fn compute_metrics_and_neighbours(emb: &Tensor, labels: &[i64], opts: &EvalOptions) -> anyhow::Result<(Metrics, knn::Neighbours)> {
    let (m, nn) = evaluate_with_neighbours(emb, labels, opts)?;
    // Training warns about degenerate splits once, before the first epoch (train.rs).
    for w in &m.warnings {
        tracing::debug!("{w}");
    }
    Ok((m.to_metrics(), nn))
}

/// Every metric for embeddings `[N, D]` (any device, any float kind) and integer labels
/// `[N]`, with undefined metrics as None. The library side of `pads metrics`.
///
/// Rules (README, "Metrics"):
/// - k must be >= 1; a k above N - 1 retrieves every other item (documented cap, warned).
/// - A query whose class has no other item cannot hit: Recall@k counts it as a miss (the
///   original's rule) or, with `opts.skip_lone_queries`, leaves it out (pytorch-metric-
///   learning's); mAP@R always leaves it out; it still counts in NMI, F1 and the distances.
/// - Recall@k and mAP@R are undefined when no query has another item of its class; NMI and
///   F1 when there are fewer than 2 classes or every class has one item (k-means with k = N
///   would score a meaningless 1); intra when no class has 2 items; inter with one class.
/// - With `opts.normalize`, rows are L2-normalised first (counted in `rows_normalized`).
///
/// Errors: label count differs from N, N < 2, D = 0, a k of 0, a row with NaN/Inf (first
/// row and count named), an all-zero row when normalising.
pub fn evaluate(emb: &Tensor, labels: &[i64], opts: &EvalOptions) -> anyhow::Result<MetricValues> {
    Ok(evaluate_with_neighbours(emb, labels, opts)?.0)
}

/// `evaluate` plus the nearest-neighbour lists (rows nearest first).
fn evaluate_with_neighbours(emb: &Tensor, labels: &[i64], opts: &EvalOptions) -> anyhow::Result<(MetricValues, knn::Neighbours)> {
    let n = labels.len();
    anyhow::ensure!(emb.dim() == 2, "embeddings must be a 2-D [N, D] array, got shape {:?}", emb.size());
    anyhow::ensure!(emb.size()[0] as usize == n, "embeddings have {} rows but there are {n} labels", emb.size()[0]);
    anyhow::ensure!(n >= 2, "need at least 2 embeddings to evaluate, got {n}");
    anyhow::ensure!(emb.size()[1] >= 1, "embeddings have 0 columns (shape {:?}); expected [N, D] with D >= 1", emb.size());
    if let Some(k) = opts.ks.iter().find(|&&k| k == 0) {
        anyhow::bail!("k must be at least 1 (Recall@{k} has no meaning), got k values {:?}", opts.ks);
    }
    check_finite(emb)?;
    let mut warnings = Vec::new();
    let (emb, rows_normalized) = if opts.normalize { normalize_rows(emb)? } else { (emb.to_kind(Kind::Float), 0) };
    if rows_normalized > 0 {
        warnings.push(format!(
            "{rows_normalized} of {n} rows were not unit-norm and were L2-normalised before every metric ({} keeps raw Euclidean distances)",
            crate::options::spell("normalize", Some("false"))
        ));
    }
    let class_sizes = class_sizes(labels);
    let n_classes = class_sizes.len();
    let lone_queries = labels.iter().filter(|l| class_sizes[l] == 1).count();
    for &k in &opts.ks {
        if k > n - 1 {
            warnings.push(format!(
                "recall@{k}: the set has only {} other items per query, so recall@{k} retrieves all of them (= recall@{})",
                n - 1,
                n - 1
            ));
        }
    }
    let max_r = if opts.with_map { labels.iter().map(|l| class_sizes[l] - 1).max().unwrap_or(0) } else { 0 };
    let kmax = opts.ks.iter().copied().max().unwrap_or(1).max(max_r).min(n - 1).max(1);
    let t0 = std::time::Instant::now();
    let nn = knn::nearest_neighbours(&emb, kmax);
    tracing::debug!("kNN (k = {kmax}) {:.2} s", t0.elapsed().as_secs_f64());
    let recall = opts.ks.iter().map(|&k| (k, knn::recall_at_k(&nn, labels, k, opts.skip_lone_queries))).collect();
    let map_at_r = if opts.with_map { knn::map_at_r(&nn, labels) } else { None };
    let no_query = lone_queries == n;
    if no_query {
        warnings.push(format!(
            "no item has another item of its class ({n} items, {n_classes} classes): Recall@k, mAP@R, NMI, F1 and intra are undefined"
        ));
    } else if lone_queries > 0 {
        warnings.push(format!(
            "{lone_queries} of {n} items are the only item of their class: as queries they can never hit, so Recall@k {} and mAP@R leaves them out; they count in NMI, F1 and the class distances",
            if opts.skip_lone_queries { "leaves them out (pytorch-metric-learning's rule)" } else { "counts them as misses (the original's rule)" }
        ));
    }
    if n_classes < 2 {
        warnings.push("all items share one class: NMI, F1 and inter are undefined".to_string());
    }
    let clustering_defined = opts.with_nmi && n_classes >= 2 && !no_query;
    let (nmi, f1) = if clustering_defined {
        let t0 = std::time::Instant::now();
        let clusters = cluster::kmeans_with(&emb, n_classes, opts.kmeans_iters, opts.seed, opts.kmeans_plusplus);
        tracing::debug!("k-means (k = {n_classes}) {:.2} s", t0.elapsed().as_secs_f64());
        (Some(cluster::nmi(&clusters, labels)), Some(cluster::pairwise_f1(&clusters, labels)))
    } else {
        (None, None)
    };
    let t0 = std::time::Instant::now();
    let (intra, inter) = class_distances(&emb, labels);
    tracing::debug!("NMI, F1, class distances {:.2} s", t0.elapsed().as_secs_f64());
    let values = MetricValues {
        recall,
        nmi,
        f1,
        map_at_r,
        intra: (!no_query).then_some(intra),
        inter: (n_classes >= 2).then_some(inter),
        items: n,
        classes: n_classes,
        lone_queries,
        rows_normalized,
        warnings,
    };
    Ok((values, nn))
}

/// The test metrics of a split, as training and `pads eval` report them: query -> gallery
/// Recall@k and mAP@R when `is_query` flags each item (In-Shop; `compute_metrics_query_gallery_split`,
/// which warns about lone queries itself), else every item against all others
/// (`evaluate`). Returns the metrics (undefined ones NaN) and, for a single set, the
/// warnings the caller shows (training logs them at debug level, having warned before the
/// first epoch). Errors as those two functions.
pub fn evaluate_split(emb: &Tensor, labels: &[i64], is_query: Option<&[bool]>, opts: &EvalOptions) -> anyhow::Result<(Metrics, Vec<String>)> {
    match is_query {
        Some(flags) => Ok((compute_metrics_query_gallery_split(emb, labels, flags, opts)?, Vec::new())),
        None => {
            let m = evaluate(emb, labels, opts)?;
            Ok((m.to_metrics(), m.warnings))
        }
    }
}

/// Test metrics of a query/gallery benchmark (In-Shop): Recall@k and mAP@R of the queries
/// (`is_query[i]`) against the gallery (the other items), as `query_gallery::
/// query_gallery_metrics` computes them (no self-matches to exclude: the two sets are
/// disjoint); NMI, F1 and the class distances over all items (query + gallery), as
/// `compute_metrics`. Errors: `is_query` of another length, no query or no gallery item,
/// and those of the two functions.
fn compute_metrics_query_gallery_split(emb: &Tensor, labels: &[i64], is_query: &[bool], opts: &EvalOptions) -> anyhow::Result<Metrics> {
    anyhow::ensure!(is_query.len() == labels.len(), "{} query flags for {} items", is_query.len(), labels.len());
    let mut m = compute_metrics(emb, labels, opts)?;
    let dim = emb.size()[1] as usize;
    let host = Vec::<f32>::try_from(emb.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous().flatten(0, -1))?;
    let (mut q, mut ql, mut g, mut gl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (&flag, &l)) in is_query.iter().zip(labels).enumerate() {
        let row = &host[i * dim..(i + 1) * dim];
        if flag {
            q.extend_from_slice(row);
            ql.push(l);
        } else {
            g.extend_from_slice(row);
            gl.push(l);
        }
    }
    let qg = query_gallery::query_gallery_metrics(&q, &ql, &g, &gl, dim, &opts.ks, false, opts.skip_lone_queries)?;
    if qg.lone_queries > 0 {
        tracing::warn!(
            "{} of {} test queries have no gallery image of their item: Recall@k {}, mAP@R leaves them out",
            qg.lone_queries,
            qg.queries,
            if opts.skip_lone_queries { "leaves them out" } else { "counts them as misses (the original's rule)" }
        );
    }
    m.recall = qg.recall;
    m.map_at_r = qg.map_at_r;
    Ok(m)
}

pub fn class_sizes(labels: &[i64]) -> std::collections::BTreeMap<i64, usize> {
    let mut m = std::collections::BTreeMap::new();
    for &l in labels {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}

/// [mean intra-class cosine distance, mean cosine distance between normalised centroids],
/// both means over ordered pairs i != j (classes of one image are left out of the first).
/// Uses sum_{i != j} cos(e_i, e_j) = |sum_i e_i/|e_i||^2 - n: exact, O(N D), a few batched ops.
pub fn class_distances(emb: &Tensor, labels: &[i64]) -> (f64, f64) {
    let e = crate::ops::l2_normalize(&emb.to_kind(Kind::Double));
    let dev = e.device();
    // Dense class indices 0..C in label order.
    let classes: Vec<i64> = class_sizes(labels).keys().copied().collect();
    let index: std::collections::BTreeMap<i64, i64> = classes.iter().enumerate().map(|(i, &c)| (c, i as i64)).collect();
    let idx = Tensor::from_slice(&labels.iter().map(|l| index[l]).collect::<Vec<_>>()).to_device(dev);
    let c = classes.len() as i64;
    let sums = Tensor::zeros([c, e.size()[1]], (Kind::Double, dev)).index_add(0, &idx, &e);
    let counts = Tensor::zeros([c], (Kind::Double, dev)).index_add(0, &idx, &Tensor::ones([labels.len() as i64], (Kind::Double, dev)));
    let s2 = (&sums * &sums).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    let multi = counts.ge(2.0);
    let n_multi = multi.sum(Kind::Double).double_value(&[]);
    let intra = if n_multi > 0.0 {
        let per_class = (s2 - &counts) / (&counts * (&counts - 1.0)).clamp_min(1.0);
        let per_class = per_class.neg() + 1.0;
        (per_class * multi.to_kind(Kind::Double)).sum(Kind::Double).double_value(&[]) / n_multi
    } else {
        0.0
    };
    let inter = if c >= 2 {
        let centroids = crate::ops::l2_normalize(&(&sums / counts.unsqueeze(1)));
        let total = centroids.sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
        let t2 = (&total * &total).sum(Kind::Double).double_value(&[]);
        let k = c as f64;
        1.0 - (t2 - k) / (k * (k - 1.0))
    } else {
        0.0
    };
    (intra, inter)
}
