//! Exact k nearest neighbours under squared Euclidean distance, every item a query against
//! all others (itself excluded). Queries go in chunks so memory is O(chunk * N). Order is
//! (distance, index): ties go to the lower index, also across the k-th place.
use tch::{Device, Kind, Tensor};

/// Flat `[N, k]` neighbour indices, nearest first.
pub struct Neighbours {
    pub k: usize,
    pub idx: Vec<u32>,
}

impl Neighbours {
    pub fn row(&self, i: usize) -> &[u32] {
        &self.idx[i * self.k..(i + 1) * self.k]
    }
}


/// The rows of `emb` as float32, less their mean when they lie close together far from
/// the origin (root-mean-square deviation below 1/16 of the root-mean-square norm): the
/// distances are the same, but |x|^2 - 2 q.x in float32 keeps its precision (unit-norm
/// embeddings a barely trained network maps near one point; uncentred, their ranks are
/// rounding noise). Other rows stay as they are, so distances that are exact in float32
/// (small integers, ties) stay exact.
fn centred_if_clustered(emb: &Tensor) -> Tensor {
    let e64 = emb.to_kind(Kind::Double);
    let mean = e64.mean_dim([0i64].as_slice(), true, Kind::Double);
    let centred = &e64 - &mean;
    let msd = (&centred * &centred).sum(Kind::Double).double_value(&[]);
    let msn = (&e64 * &e64).sum(Kind::Double).double_value(&[]);
    if msd.is_finite() && msd * 256.0 < msn {
        centred.to_kind(Kind::Float)
    } else {
        emb.to_kind(Kind::Float)
    }
}

/// The k nearest neighbours of every row of `emb` `[N, D]` among the other rows (module
/// doc), ranked on `centred_if_clustered` rows.
pub fn nearest_neighbours(emb: &Tensor, k: usize) -> Neighbours {
    let n = emb.size()[0] as usize;
    let k = k.min(n.saturating_sub(1)).max(1);
    let e = centred_if_clustered(emb);
    if e.device() == Device::Cpu {
        return nearest_neighbours_host(&e, k);
    }
    let sq = (&e * &e).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    // Ranking a query's row needs only |x|^2 - 2 q.x (|q|^2 is constant along it):
    // one GEMM accumulating onto the broadcast |x|^2.
    let e_t = e.tr() * -2.0;
    let sq_row = sq.unsqueeze(0);
    let mut out = vec![0u32; n * k];
    let chunk = super::blas::block_rows(n);
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let d = sq_row.addmm(&e.narrow(0, start as i64, len as i64), &e_t);
        select_rows_on_device(&d, n, start, k, &mut out[start * k..(start + len) * k]);
        start += len;
    }
    Neighbours { k, idx: out }
}

/// The CPU path: the same blocks from the host GEMM (eval::blas), selected on the host.
fn nearest_neighbours_host(e: &Tensor, k: usize) -> Neighbours {
    let n = e.size()[0] as usize;
    let dim = e.size()[1] as usize;
    let host = Vec::<f32>::try_from(e.contiguous().flatten(0, -1)).expect("float embeddings");
    let sq = super::blas::row_sq_norms(&host, dim);
    let mut out = vec![0u32; n * k];
    super::blas::for_each_block(&host, &host, dim, |start, len, block| {
        select_rows(block, Some(&sq), n, start, k, &mut out[start * k..(start + len) * k]);
    });
    Neighbours { k, idx: out }
}

/// Exact k smallest of each row by (value, index), the query itself excluded. With `add`,
/// the row's values are `block + add` (the |x|^2 the host GEMM leaves out). Rows in parallel.
fn select_rows(block: &[f32], add: Option<&[f32]>, n: usize, start: usize, k: usize, dst: &mut [u32]) {
    use rayon::prelude::*;
    dst.par_chunks_mut(k).enumerate().for_each_init(
        || (Vec::with_capacity(n), Vec::with_capacity(2 * k)),
        |(vals, cand): &mut (Vec<f32>, Vec<(f32, u32)>), (r, out)| {
            let raw = &block[r * n..(r + 1) * n];
            select_row(raw, add, start + r, vals, cand, out);
        },
    );
}

/// Sample stride of the threshold guess in `select_row`.
const SAMPLE_STRIDE: usize = 16;

/// One row: the k = out.len() smallest values other than position `me`, by (value, index);
/// `me >= raw.len()` (e.g. usize::MAX) excludes nothing, and then k may equal the row length.
///
/// Fast path: a threshold t from a strided sample (its order statistic a quarter above the
/// expected rank of the k-th value), then one pass keeps every value <= t. If that kept at
/// least k, the answer is among them: anything left out is above t, hence above k kept
/// values. Otherwise (an unlucky sample) a quickselect over the whole row finds the k-th
/// value. Either way the few candidates are ordered exactly, so the result is the same.
pub(crate) fn select_row(raw: &[f32], add: Option<&[f32]>, me: usize, vals: &mut Vec<f32>, cand: &mut Vec<(f32, u32)>, out: &mut [u32]) {
    let n = raw.len();
    let k = out.len();
    let value = |j: usize| match add {
        Some(add) => raw[j] + add[j],
        None => raw[j],
    };
    let by_value_then_index = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    let collect_at_or_below = |t: f32, cand: &mut Vec<(f32, u32)>| {
        cand.clear();
        for j in 0..n {
            let v = value(j);
            if v.total_cmp(&t).is_le() && j != me {
                cand.push((v, j as u32));
            }
        }
    };
    let mut found = false;
    if n >= 64 * SAMPLE_STRIDE && k * 8 <= n {
        vals.clear();
        vals.extend((0..n).step_by(SAMPLE_STRIDE).filter(|&j| j != me).map(value));
        let rank = ((k + k / 4) / SAMPLE_STRIDE + 8).min(vals.len() - 1);
        let t = *vals.select_nth_unstable_by(rank, |a, b| a.total_cmp(b)).1;
        collect_at_or_below(t, cand);
        found = cand.len() >= k;
    }
    if !found {
        vals.clear();
        vals.extend((0..n).map(value));
        // The query itself ranks last (k < n; this NaN is the greatest value under
        // total_cmp), so the k-th value is that of the others.
        if me < n {
            vals[me] = f32::from_bits(0x7fff_ffff);
        }
        let t = *vals.select_nth_unstable_by(k - 1, |a, b| a.total_cmp(b)).1;
        collect_at_or_below(t, cand);
    }
    if cand.len() > k {
        cand.select_nth_unstable_by(k - 1, by_value_then_index);
        cand.truncate(k);
    }
    cand.sort_unstable_by(by_value_then_index);
    for (o, c) in out.iter_mut().zip(cand.iter()) {
        *o = c.1;
    }
}

/// On an accelerator: topk there, then the same (value, index) order on the host; a tie
/// across the k-th place is resolved exactly from the full row.
fn select_rows_on_device(d: &Tensor, n: usize, start: usize, k: usize, dst: &mut [u32]) {
    let len = d.size()[0] as usize;
    let rows = Tensor::arange(len as i64, (Kind::Int64, d.device()));
    let cols = &rows + start as i64;
    let mut d = d.shallow_clone();
    let d = d.index_put_(&[Some(rows), Some(cols)], &Tensor::from(f32::INFINITY).to_device(d.device()), false);
    let take = (k + 1).min(n);
    let (vals, idx) = d.topk(take as i64, 1, false, true);
    let vals = Vec::<f32>::try_from(vals.to_device(Device::Cpu).flatten(0, -1)).unwrap();
    let idx = Vec::<i64>::try_from(idx.to_device(Device::Cpu).flatten(0, -1)).unwrap();
    for r in 0..len {
        let v = &vals[r * take..(r + 1) * take];
        let ix = &idx[r * take..(r + 1) * take];
        let out = &mut dst[r * k..(r + 1) * k];
        if take > k && v[k - 1] == v[k] {
            let row = Vec::<f32>::try_from(d.get(r as i64).to_device(Device::Cpu)).unwrap();
            select_rows(&row, None, n, start + r, k, out);
        } else {
            let mut pairs: Vec<(f32, u32)> = (0..k).map(|j| (v[j], ix[j] as u32)).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (o, p) in out.iter_mut().zip(&pairs) {
                *o = p.1;
            }
        }
    }
}

/// Recall@k: share of queries with a same-label item among their k nearest (k capped at
/// the neighbours computed, i.e. at N - 1: with k >= N - 1 every other item is retrieved).
/// A query whose class has no other item can never hit: with `skip_lone` it is left out
/// (pytorch-metric-learning's rule), else it counts as a miss (the original's
/// `auxiliaries.eval_metrics_one_dataset`, which divides by N). None when no query has a
/// same-label item.
pub fn recall_at_k(nn: &Neighbours, labels: &[i64], k: usize, skip_lone: bool) -> Option<f64> {
    let k = k.min(nn.k);
    let sizes = super::class_sizes(labels);
    let queries: Vec<usize> = (0..labels.len()).filter(|&i| sizes[&labels[i]] >= 2).collect();
    if queries.is_empty() {
        return None;
    }
    let hits = queries.iter().filter(|&&i| nn.row(i)[..k].iter().any(|&j| labels[j as usize] == labels[i])).count();
    let counted = if skip_lone { queries.len() } else { labels.len() };
    Some(hits as f64 / counted as f64)
}

/// mAP@R (Musgrave et al. 2020): R = number of other items of the query's class;
/// mean over queries of (1/R) sum_{j<=R} precision@j * relevant(j). Queries with R = 0
/// are left out; None when every query has R = 0. `nn` must hold at least the largest R
/// neighbours (R is capped at `nn.k` otherwise).
pub fn map_at_r(nn: &Neighbours, labels: &[i64]) -> Option<f64> {
    let sizes = super::class_sizes(labels);
    let mut total = 0.0;
    let mut count = 0usize;
    for i in 0..labels.len() {
        let r = (sizes[&labels[i]] - 1).min(nn.k);
        if r == 0 {
            continue;
        }
        let mut hits = 0usize;
        let mut ap = 0.0;
        for (j, &nb) in nn.row(i)[..r].iter().enumerate() {
            if labels[nb as usize] == labels[i] {
                hits += 1;
                ap += hits as f64 / (j + 1) as f64;
            }
        }
        total += ap / r as f64;
        count += 1;
    }
    (count > 0).then(|| total / count as f64)
}
