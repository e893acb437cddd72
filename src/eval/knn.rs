//! Exact k nearest neighbours under squared Euclidean distance, every item a query against
//! all others (itself excluded). Queries go in chunks so memory is O(chunk * N). Order is
//! (distance, index): ties go to the lower index, and a tie across the k-th place is
//! resolved exactly by sorting that query's full row.
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
    let mut out = vec![0u32; n * k];
    let chunk = chunk_rows(n);
    let take = (k + 1).min(n);
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let q = e.narrow(0, start as i64, len as i64);
        let mut d = sq.narrow(0, start as i64, len as i64).unsqueeze(1) + sq.unsqueeze(0) - q.matmul(&e.tr()) * 2.0;
        // Exclude each query itself.
        let rows = Tensor::arange(len as i64, (Kind::Int64, e.device()));
        let cols = &rows + start as i64;
        let d = d.index_put_(&[Some(rows), Some(cols)], &Tensor::from(f32::INFINITY).to_device(e.device()), false);
        let (vals, idx) = d.topk(take as i64, 1, false, true);
        let vals = Vec::<f32>::try_from(vals.to_device(Device::Cpu).flatten(0, -1)).unwrap();
        let idx = Vec::<i64>::try_from(idx.to_device(Device::Cpu).flatten(0, -1)).unwrap();
        let mut full_rows: Option<Vec<f32>> = None;
        for r in 0..len {
            let v = &vals[r * take..(r + 1) * take];
            let ix = &idx[r * take..(r + 1) * take];
            let dst = &mut out[(start + r) * k..(start + r + 1) * k];
            let boundary_tie = take > k && v[k - 1] == v[k];
            if boundary_tie {
                // Rare: fetch the block once, then sort this row exactly.
                let block = full_rows.get_or_insert_with(|| Vec::<f32>::try_from(d.to_device(Device::Cpu).flatten(0, -1)).unwrap());
                let row = &block[r * n..(r + 1) * n];
                let mut order: Vec<u32> = (0..n as u32).filter(|&j| j as usize != start + r).collect();
                order.sort_by(|&a, &b| row[a as usize].total_cmp(&row[b as usize]).then(a.cmp(&b)));
                dst.copy_from_slice(&order[..k]);
            } else {
                let mut pairs: Vec<(f32, u32)> = (0..k).map(|j| (v[j], ix[j] as u32)).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for (j, p) in pairs.iter().enumerate() {
                    dst[j] = p.1;
                }
            }
        }
        start += len;
    }
    Neighbours { k, idx: out }
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
