//! Exact query -> gallery search with the gallery streamed in chunks (eval::search) and the
//! .npy row reader it streams from, checked against a brute-force double-precision search.
use pads::eval::search::{search_in_memory, search_streaming};
use pads::npy::NpyRows;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// (index, squared distance) of every gallery row, sorted by (distance, index), in f64.
fn brute_force(q: &[f32], gallery: &[f32], dim: usize) -> Vec<(usize, f64)> {
    let mut all: Vec<(usize, f64)> = gallery
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, g)| (i, q.iter().zip(g).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum()))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all
}

#[test]
fn streamed_search_equals_brute_force_for_any_chunk_size() {
    let dim = 6;
    let mut gallery = random_rows(300, dim, 1);
    // Exact duplicates of row 5 at rows 40 and 250: the tie goes to the lower index, and
    // duplicates in different chunks still come out in order.
    let row5 = gallery[5 * dim..6 * dim].to_vec();
    gallery[40 * dim..41 * dim].copy_from_slice(&row5);
    gallery[250 * dim..251 * dim].copy_from_slice(&row5);
    let mut queries = random_rows(9, dim, 2);
    queries[..dim].copy_from_slice(&row5);
    for chunk in [1usize, 7, 64, 300, 1000] {
        let hits = search_in_memory(&queries, &gallery, dim, 5, chunk).unwrap();
        assert_eq!(hits.len(), 9);
        for (qi, h) in hits.iter().enumerate() {
            let want = brute_force(&queries[qi * dim..(qi + 1) * dim], &gallery, dim);
            let got: Vec<usize> = h.iter().map(|x| x.index).collect();
            let exp: Vec<usize> = want[..5].iter().map(|x| x.0).collect();
            assert_eq!(got, exp, "query {qi}, chunk {chunk}");
            for (x, w) in h.iter().zip(&want) {
                assert!((x.sq_distance as f64 - w.1).abs() < 1e-5, "{} vs {}", x.sq_distance, w.1);
            }
        }
        // The query equal to row 5: rows 5, 40, 250 at distance exactly 0.
        assert_eq!(hits[0][..3].iter().map(|x| x.index).collect::<Vec<_>>(), vec![5, 40, 250]);
        assert!(hits[0][..3].iter().all(|x| x.sq_distance == 0.0 && x.distance() == 0.0));
    }
}

#[test]
fn k_larger_than_the_gallery_returns_the_whole_gallery_sorted() {
    let dim = 3;
    let gallery = random_rows(4, dim, 3);
    let queries = random_rows(2, dim, 4);
    let hits = search_in_memory(&queries, &gallery, dim, 10, 3).unwrap();
    for (qi, h) in hits.iter().enumerate() {
        let want: Vec<usize> = brute_force(&queries[qi * dim..(qi + 1) * dim], &gallery, dim).iter().map(|x| x.0).collect();
        assert_eq!(h.iter().map(|x| x.index).collect::<Vec<_>>(), want);
    }
    assert!(search_in_memory(&queries, &gallery, dim, 0, 3).is_err(), "k = 0 is refused");
}

#[test]
fn npy_rows_streams_float32_and_float64_and_names_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = random_rows(10, 4, 5);
    let t = Tensor::from_slice(&data).view([10, 4]);
    let f32_file = tmp.path().join("g32.npy");
    t.write_npy(&f32_file).unwrap();
    let f64_file = tmp.path().join("g64.npy");
    t.to_kind(tch::Kind::Double).write_npy(&f64_file).unwrap();
    for f in [&f32_file, &f64_file] {
        let mut r = NpyRows::open(f).unwrap();
        assert_eq!((r.rows, r.cols), (10, 4));
        let mut all = Vec::new();
        let mut buf = Vec::new();
        loop {
            let n = r.next_rows(3, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf);
        }
        assert_eq!(all, data);
    }
    // The streamed search over the file equals the in-memory one.
    let queries = random_rows(2, 4, 6);
    let mut r = NpyRows::open(&f32_file).unwrap();
    let streamed = search_streaming(&queries, 4, 3, |b| r.next_rows(4, b)).unwrap();
    assert_eq!(streamed, search_in_memory(&queries, &data, 4, 3, 100).unwrap());
    let ints = tmp.path().join("labels.npy");
    Tensor::from_slice(&[1i64, 2, 3]).write_npy(&ints).unwrap();
    let err = format!("{:#}", NpyRows::open(&ints).err().unwrap());
    assert!(err.contains("labels.npy") && err.contains("float32"), "{err}");
    let short = tmp.path().join("short.npy");
    let bytes = std::fs::read(&f32_file).unwrap();
    std::fs::write(&short, &bytes[..bytes.len() - 8]).unwrap();
    let err = format!("{:#}", NpyRows::open(&short).err().unwrap());
    assert!(err.contains("short.npy") && err.contains("truncated"), "{err}");
    let text = tmp.path().join("text.npy");
    std::fs::write(&text, "hello, world").unwrap();
    assert!(format!("{:#}", NpyRows::open(&text).err().unwrap()).contains("not a .npy file"));
}
