//! The neighbours shown in a run's retrieval.png, computed exactly.

/// The rows of retrieval.png: `queries` items spread evenly over the test split, each with its
/// `per_row` nearest other items by exact squared Euclidean distance over `emb` (row-major
/// [N, dim] floats), ties to the lower index. With `is_query` (in_shop: per item, query or
/// gallery) the rows are queries and their neighbours gallery items only, as the query ->
/// gallery metrics rank them. Computed here, not taken from the metrics' neighbour lists,
/// which hold only as many neighbours as the largest k needs.
pub fn retrieval_picks(emb: &[f32], dim: usize, is_query: Option<&[bool]>, queries: usize, per_row: usize) -> Vec<(usize, Vec<usize>)> {
    let n = if dim == 0 { 0 } else { emb.len() / dim };
    let row = |i: usize| &emb[i * dim..(i + 1) * dim];
    let candidates: Vec<usize> = (0..n).filter(|&i| is_query.is_none_or(|f| f[i])).collect();
    let m = candidates.len();
    let mut picks: Vec<usize> = (0..queries.min(m)).map(|i| candidates[i * m / queries.min(m)]).collect();
    picks.dedup();
    picks
        .into_iter()
        .map(|q| {
            let mut near: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != q && is_query.is_none_or(|f| !f[j]))
                .map(|j| (row(q).iter().zip(row(j)).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>(), j))
                .collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            (q, near.into_iter().take(per_row).map(|(_, j)| j).collect())
        })
        .collect()
}
