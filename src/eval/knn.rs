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

/// Rows per chunk so that one chunk's distance block stays near 256 MiB.
fn chunk_rows(n: usize) -> usize {
    ((256usize << 20) / (4 * n.max(1))).clamp(1, 4096)
}

pub fn nearest_neighbours(emb: &Tensor, k: usize) -> Neighbours {
    let n = emb.size()[0] as usize;
    let k = k.min(n.saturating_sub(1)).max(1);
    let e = emb.to_kind(Kind::Float);
    let sq = (&e * &e).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    // Ranking a query's row needs only |x|^2 - 2 q.x (|q|^2 is constant along it):
    // one GEMM accumulating onto the broadcast |x|^2.
    let e_t = e.tr() * -2.0;
    let sq_row = sq.unsqueeze(0);
    let mut out = vec![0u32; n * k];
    let chunk = chunk_rows(n);
    let mut block = Vec::new();
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let q = e.narrow(0, start as i64, len as i64);
        let d = sq_row.addmm(&q, &e_t);
        let dst = &mut out[start * k..(start + len) * k];
        if e.device() == Device::Cpu {
            block.resize(len * n, 0f32);
            d.contiguous().copy_data(&mut block, len * n);
            select_rows(&block, n, start, k, dst);
        } else {
            select_rows_on_device(&d, n, start, k, dst);
        }
        start += len;
    }
    Neighbours { k, idx: out }
}

/// Exact k smallest of each row by (value, index), the query itself excluded: a quickselect
/// finds the k-th value, one pass collects everything at or below it, and a sort of those
/// few orders them (equal values by index). Rows in parallel.
fn select_rows(block: &[f32], n: usize, start: usize, k: usize, dst: &mut [u32]) {
    use rayon::prelude::*;
    dst.par_chunks_mut(k).enumerate().for_each_init(
        || (Vec::with_capacity(n), Vec::with_capacity(2 * k)),
        |(vals, cand): &mut (Vec<f32>, Vec<(f32, u32)>), (r, out)| {
            let row = &block[r * n..(r + 1) * n];
            let me = start + r;
            vals.clear();
            vals.extend(row.iter().enumerate().filter(|(j, _)| *j != me).map(|(_, v)| *v));
            let (_, kth, _) = vals.select_nth_unstable_by(k - 1, |a, b| a.total_cmp(b));
            let kth = *kth;
            cand.clear();
            cand.extend(
                row.iter()
                    .enumerate()
                    .filter(|(j, v)| *j != me && v.total_cmp(&kth).is_le())
                    .map(|(j, v)| (*v, j as u32)),
            );
            cand.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (o, c) in out.iter_mut().zip(cand.iter()) {
                *o = c.1;
            }
        },
    );
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
            select_rows(&row, n, start + r, k, out);
        } else {
            let mut pairs: Vec<(f32, u32)> = (0..k).map(|j| (v[j], ix[j] as u32)).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (o, p) in out.iter_mut().zip(&pairs) {
                *o = p.1;
            }
        }
    }
}

/// Share of queries with a same-label item among their k nearest.
pub fn recall_at_k(nn: &Neighbours, labels: &[i64], k: usize) -> f64 {
    let k = k.min(nn.k);
    let hits = (0..labels.len())
        .filter(|&i| nn.row(i)[..k].iter().any(|&j| labels[j as usize] == labels[i]))
        .count();
    hits as f64 / labels.len() as f64
}

/// mAP@R (Musgrave et al. 2020): R = number of other items of the query's class;
/// mean over queries of (1/R) sum_{j<=R} precision@j * relevant(j). Queries with R = 0
/// are left out.
pub fn map_at_r(nn: &Neighbours, labels: &[i64]) -> f64 {
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
    if count == 0 {
        0.0
    } else {
        total / count as f64
    }
}
