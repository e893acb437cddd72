//! Exact k nearest neighbours of queries in a separate gallery, the gallery streamed in
//! chunks: memory is O(chunk * dim + query block * chunk + queries * k), whatever the
//! gallery's size (a 1,000,000 x 128 gallery is searched in ~100 MiB beyond the queries).
//!
//! Per gallery chunk: the host GEMM of eval::blas gives |g|^2 - 2 q.g for a block of
//! queries, eval::knn's exact row selection takes each query's k best in the chunk, their
//! squared distances are recomputed exactly as sum (q - g)^2 (so an identical vector is at
//! distance 0, not at the GEMM's rounding error), and they are merged into the query's
//! running top-k. Order: (distance, gallery index), ties to the lower index.
use anyhow::{ensure, Result};
use rayon::prelude::*;

/// One neighbour: its row in the gallery and its squared Euclidean distance.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Hit {
    pub index: usize,
    pub sq_distance: f32,
}

impl Hit {
    /// Euclidean distance sqrt(sq_distance).
    pub fn distance(&self) -> f32 {
        self.sq_distance.max(0.0).sqrt()
    }
}

/// Default gallery rows per chunk (32 MiB at 128-d).
pub const GALLERY_CHUNK_ROWS: usize = 65_536;

/// Query rows per GEMM block so that a [rows, chunk] f32 block stays within 64 MiB.
fn query_block_rows(chunk: usize) -> usize {
    ((64usize << 20) / (4 * chunk.max(1))).clamp(1, 1024)
}

/// The k nearest gallery rows of every query (row-major `queries` [m, dim]), nearest
/// first; fewer than k when the gallery is smaller. `next_chunk(buf)` fills `buf` with
/// the next gallery rows (row-major, `dim` columns) and returns how many, 0 at the end;
/// gallery indices count rows across chunks from 0. Errors: k = 0, dim = 0, a chunk whose
/// length is not rows * dim, or an error of `next_chunk`.
pub fn search_streaming(queries: &[f32], dim: usize, k: usize, mut next_chunk: impl FnMut(&mut Vec<f32>) -> Result<usize>) -> Result<Vec<Vec<Hit>>> {
    ensure!(k >= 1, "k must be at least 1");
    ensure!(dim >= 1 && queries.len() % dim == 0, "queries are not rows of {dim} values");
    let m = queries.len() / dim;
    let mut running: Vec<Vec<Hit>> = vec![Vec::with_capacity(2 * k); m];
    let mut chunk = Vec::new();
    let mut block = Vec::new();
    let mut base = 0usize;
    loop {
        let rows = next_chunk(&mut chunk)?;
        if rows == 0 {
            break;
        }
        ensure!(chunk.len() == rows * dim, "gallery chunk of {rows} rows holds {} values, expected {}", chunk.len(), rows * dim);
        let sq = super::blas::row_sq_norms(&chunk, dim);
        let kk = k.min(rows);
        let qb = query_block_rows(rows);
        for (bi, qblock) in queries.chunks(qb * dim).enumerate() {
            super::blas::minus_two_inner(qblock, &chunk, dim, &mut block);
            let first = bi * qb;
            let n_q = qblock.len() / dim;
            running[first..first + n_q].par_iter_mut().enumerate().for_each_init(
                || (Vec::with_capacity(rows), Vec::with_capacity(2 * kk), vec![0u32; kk]),
                |(vals, cand, out), (r, best)| {
                    let raw = &block[r * rows..(r + 1) * rows];
                    super::knn::select_row(raw, Some(&sq), usize::MAX, vals, cand, out);
                    let q = &qblock[r * dim..(r + 1) * dim];
                    for &j in out.iter() {
                        let g = &chunk[j as usize * dim..(j as usize + 1) * dim];
                        let d: f64 = q.iter().zip(g).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
                        best.push(Hit { index: base + j as usize, sq_distance: d as f32 });
                    }
                    best.sort_unstable_by(|a, b| a.sq_distance.total_cmp(&b.sq_distance).then(a.index.cmp(&b.index)));
                    best.truncate(k);
                },
            );
        }
        base += rows;
    }
    Ok(running)
}

/// `search_streaming` over an in-memory row-major gallery [n, dim], `chunk_rows` at a time.
pub fn search_in_memory(queries: &[f32], gallery: &[f32], dim: usize, k: usize, chunk_rows: usize) -> Result<Vec<Vec<Hit>>> {
    ensure!(dim >= 1 && gallery.len() % dim == 0, "gallery is not rows of {dim} values");
    let mut pos = 0usize;
    search_streaming(queries, dim, k, |buf| {
        let n = (chunk_rows.max(1) * dim).min(gallery.len() - pos);
        buf.clear();
        buf.extend_from_slice(&gallery[pos..pos + n]);
        pos += n;
        Ok(n / dim)
    })
}
