//! Host GEMM for the distance blocks of the exact evaluation (kNN and k-means on the CPU).
//!
//! Why not libtorch's `addmm` here: the PyPI build runs MKL's sgemm, which on this AMD CPU
//! reaches about 60 GFLOP/s for these tall-skinny shapes ([m, 128] x [128, n]); the `gemm`
//! crate reaches about 110 on the same 2 cores (docs/benchmarks.md), and these GEMMs are
//! most of the evaluation's time. Training keeps libtorch (autograd, oneDNN convolutions).

/// Query rows per block: 1024 runs the GEMM at its best rate here (measured 120 GFLOP/s
/// against 96 at 185 rows and 95 at 4096 for n = 11,316), capped so that a [rows, n] f32
/// block stays under 256 MiB.
pub fn block_rows(n: usize) -> usize {
    ((256usize << 20) / (4 * n.max(1))).clamp(16, 1024)
}

/// `out[i, j] = -2 <q_i, p_j>` for row-major `queries` [m, dim] and `points` [n, dim];
/// `out` is resized to [m, n] (row-major). Adding |p_j|^2 gives the squared distance less the
/// row's constant |q_i|^2, which is all a ranking along the row needs; callers add it in
/// the pass that reads the block.
pub fn minus_two_inner(queries: &[f32], points: &[f32], dim: usize, out: &mut Vec<f32>) {
    let m = queries.len() / dim;
    let n = points.len() / dim;
    out.resize(m * n, 0.0);
    if m == 0 || n == 0 {
        return;
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: every pointer covers its matrix under the given strides (out: m x n row-major,
    // queries: m x dim row-major, points read as the dim x n matrix points^T).
    unsafe {
        gemm::gemm(
            m, n, dim,
            out.as_mut_ptr(), 1, n as isize,
            false,
            queries.as_ptr(), 1, dim as isize,
            points.as_ptr(), dim as isize, 1,
            0.0f32, -2.0f32,
            false, false, false,
            parallelism,
        );
    }
}

/// Walks the row-major `queries` [m, dim] in blocks of `block_rows(n)` rows, calling
/// `f(first_row, rows, block)` with each block's `minus_two_inner` against `points` [n, dim].
pub fn for_each_block(queries: &[f32], points: &[f32], dim: usize, mut f: impl FnMut(usize, usize, &[f32])) {
    let (m, n) = (queries.len() / dim, points.len() / dim);
    let chunk = block_rows(n);
    let mut block = Vec::new();
    let mut start = 0;
    while start < m {
        let len = chunk.min(m - start);
        minus_two_inner(&queries[start * dim..(start + len) * dim], points, dim, &mut block);
        f(start, len, &block);
        start += len;
    }
}

/// Squared norms of the rows of a row-major [n, dim] matrix.
pub fn row_sq_norms(x: &[f32], dim: usize) -> Vec<f32> {
    x.chunks_exact(dim).map(|r| r.iter().map(|v| v * v).sum()).collect()
}

