//! `pads bench`: the pads side of the benchmarks in bench/ (docs/benchmarks.md). Timings
//! are printed as raw numbers for the driver scripts, which compare them with the PyTorch /
//! faiss peers measured in the same run.
use crate::config::RunConfig;
use crate::options::{Arch, LossKind, Sampling};
use crate::data::loader::{spawn_loader, ImageStore};
use crate::data::transform::{Mode, Normalization, Transform};
use crate::miners::build_miner;
use crate::model::EmbeddingNet;
use crate::optim::Adam;
use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Labels of a class-balanced batch: bs / spc classes, spc images each.
pub fn batch_labels(bs: usize, samples_per_class: usize) -> Vec<i64> {
    (0..bs).map(|i| (i / samples_per_class) as i64).collect()
}

/// One full training iteration (forward, miner, margin loss, backward, Adam on model and
/// beta) served over stdin: each line `run K` answers with K per-iteration times in ms.
pub fn train_step_server(arch: Arch, image_size: usize, bs: usize, sampling: Sampling, device: Device, amp_bf16: bool) -> Result<()> {
    tch::manual_seed(0);
    let cfg = RunConfig { arch, image_size, bs, sampling, embed_dim: 128, samples_per_class: 4, ..RunConfig::default() };
    let vs = nn::VarStore::new(device);
    let mut model = EmbeddingNet::new(&vs.root(), arch, cfg.embed_dim);
    model.amp_bf16 = amp_bf16;
    let beta_vs = nn::VarStore::new(device);
    let n_classes = (bs / 4) as i64;
    let beta = beta_vs.root().var("beta", &[n_classes], nn::Init::Const(1.2));
    let mut opt = Adam::new(&vs, 1e-5, 4e-4);
    let mut opt_beta = Adam::new(&beta_vs, 5e-4, 0.0);
    let mut miner = build_miner(&cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let labels = batch_labels(bs, 4);
    let x = Tensor::randn([bs as i64, 3, image_size as i64, image_size as i64], (Kind::Float, device));
    let profile = std::env::var_os("PADS_BENCH_PROFILE").is_some();
    let step = |miner: &mut Box<dyn crate::miners::Miner>, rng: &mut ChaCha8Rng, opt: &mut Adam, opt_beta: &mut Adam| {
        let t0 = Instant::now();
        let emb = model.forward_t(&x, true);
        let t_fwd = t0.elapsed().as_secs_f64();
        let t = miner.mine(&emb, &labels, rng);
        let loss = match cfg.loss {
            LossKind::Margin => crate::loss::margin_loss_for_labels(&emb, &t, &labels, &beta, 0.2),
            LossKind::Triplet => crate::loss::triplet_loss(&emb, &t, 0.2),
        };
        opt.zero_grad();
        opt_beta.zero_grad();
        let t1 = Instant::now();
        loss.backward();
        let t_bwd = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        opt.step();
        opt_beta.step();
        if profile {
            eprintln!("forward {t_fwd:.3} s, backward {t_bwd:.3} s, adam {:.3} s", t2.elapsed().as_secs_f64());
        }
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next().and_then(|k| k.parse::<usize>().ok())) {
            (Some("run"), Some(k)) => {
                let mut times = Vec::with_capacity(k);
                for _ in 0..k {
                    let t0 = Instant::now();
                    step(&mut miner, &mut rng, &mut opt, &mut opt_beta);
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                println!("{}", times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(" "));
            }
            (Some("quit"), _) => break,
            _ => println!("error: expected `run K` or `quit`"),
        }
    }
    Ok(())
}

/// Miner + margin loss (forward and backward) at bs x dim, for each sampler: median ms.
pub fn miners(bs: usize, dim: usize, reps: usize) -> Result<serde_json::Value> {
    tch::manual_seed(0);
    let labels = batch_labels(bs, 4);
    let n_classes = (bs / 4) as i64;
    let mut out = serde_json::Map::new();
    for sampling in [Sampling::Random, Sampling::Semihard, Sampling::Softhard, Sampling::Distance, Sampling::Pads] {
        let cfg = RunConfig { sampling, embed_dim: dim, bs, ..RunConfig::default() };
        let mut miner = build_miner(&cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let raw = Tensor::randn([bs as i64, dim as i64], (Kind::Float, Device::Cpu));
        let beta = Tensor::full([n_classes], 1.2, (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut times = Vec::with_capacity(reps);
        for i in 0..reps + 5 {
            let leaf = raw.detach().set_requires_grad(true);
            let t0 = Instant::now();
            let emb = crate::ops::l2_normalize(&leaf);
            let t = miner.mine(&emb, &labels, &mut rng);
            let loss = crate::loss::margin_loss_for_labels(&emb, &t, &labels, &beta, 0.2);
            loss.backward();
            if i >= 5 {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        out.insert(crate::sweep::sampler_name(sampling), serde_json::json!(median(times)));
    }
    Ok(serde_json::Value::Object(out))
}

/// Loader throughput (images/s) for each thread count: the training (`mode` Train) or
/// evaluation transform at `image_size`, batches of `bs` over the training split (batch b
/// holds items (b * bs + i) mod n), decoding from disk every time, or with
/// `cfg.cache_images` from images decoded once before timing. One untimed batch first.
pub fn loader(cfg: &RunConfig, mode: Mode, threads: &[usize], batches: usize) -> Result<serde_json::Value> {
    let splits = crate::data::load_splits(cfg)?;
    let store = Arc::new(ImageStore::new(splits.train, cfg.cache_images, false));
    let n = store.len();
    let plan: Vec<Vec<usize>> = (0..batches).map(|b| (0..cfg.bs).map(|i| (b * cfg.bs + i) % n).collect()).collect();
    let transform = Transform::new(cfg.image_size, mode).with_normalization(Normalization::for_arch(cfg.arch));
    let mut out = serde_json::Map::new();
    for &t in threads {
        if cfg.cache_images {
            store.warm(t)?;
        }
        // Warm the page cache (and the pool) once, then time.
        for b in spawn_loader(store.clone(), plan[..1].to_vec(), transform, 0, t, 2) {
            b?;
        }
        let t0 = Instant::now();
        let mut images = 0;
        for b in spawn_loader(store.clone(), plan.clone(), transform, 0, t, 4) {
            images += b?.labels.len();
        }
        out.insert(t.to_string(), serde_json::json!(images as f64 / t0.elapsed().as_secs_f64()));
    }
    Ok(serde_json::Value::Object(out))
}

/// Where one thread's time goes per image (ms): reading the file, decoding it, crop +
/// resize (+ flip), normalising into CHW floats; over the first `count` images of the
/// training split, each step timed on its own (the files read once before, untimed).
pub fn loader_profile(cfg: &RunConfig, mode: Mode, count: usize) -> Result<serde_json::Value> {
    let splits = crate::data::load_splits(cfg)?;
    let items = &splits.train.items[..count.min(splits.train.items.len())];
    let transform = Transform::new(cfg.image_size, mode).with_normalization(Normalization::for_arch(cfg.arch));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (mut read, mut decode, mut geometry, mut normalise, mut pixels) = (0.0, 0.0, 0.0, 0.0, 0u64);
    let mut out = vec![0f32; 3 * cfg.image_size * cfg.image_size];
    for item in items {
        std::fs::read(&item.path)?;
        let t0 = Instant::now();
        let bytes = std::fs::read(&item.path)?;
        let t1 = Instant::now();
        let img = crate::data::decode::decode_rgb(&bytes)?;
        let t2 = Instant::now();
        let (px, flip) = transform.geometry(&img, &mut rng);
        let t3 = Instant::now();
        transform.normalise_into(&px, flip, &mut out);
        let t4 = Instant::now();
        read += (t1 - t0).as_secs_f64();
        decode += (t2 - t1).as_secs_f64();
        geometry += (t3 - t2).as_secs_f64();
        normalise += (t4 - t3).as_secs_f64();
        pixels += img.width() as u64 * img.height() as u64;
    }
    let k = items.len().max(1) as f64 / 1e3;
    Ok(serde_json::json!({
        "images": items.len(), "mean_megapixels": pixels as f64 / items.len().max(1) as f64 / 1e6,
        "read_ms": read / k, "decode_ms": decode / k, "crop_resize_ms": geometry / k, "normalise_ms": normalise / k,
        "total_ms": (read + decode + geometry + normalise) / k,
    }))
}

/// Peak resident memory of this process in MiB (VmHWM of /proc/self/status; NaN elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()))
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// `pads bench search`: the first `n_queries` rows of `queries` (.npy [m, D]) against the
/// gallery .npy [n, D] streamed `chunk_rows` at a time (eval::search), k nearest each.
/// JSON: seconds (gallery read + search, queries loaded before), peak RSS in MiB, and each
/// query's nearest gallery row (for the agreement check with faiss in bench/peer_search.py).
pub fn search(gallery: &std::path::Path, queries: &std::path::Path, n_queries: usize, k: usize, chunk_rows: usize) -> Result<String> {
    let mut q = crate::npy::NpyRows::open(queries)?;
    let dim = q.cols;
    let mut qv = Vec::new();
    let m = q.next_rows(n_queries.max(1), &mut qv)?;
    let t0 = Instant::now();
    let mut g = crate::npy::NpyRows::open(gallery)?;
    anyhow::ensure!(g.cols == dim, "{}: {}-d, queries are {dim}-d", gallery.display(), g.cols);
    let n = g.rows;
    let hits = crate::eval::search::search_streaming(&qv, dim, k, |buf| g.next_rows(chunk_rows, buf))?;
    let seconds = t0.elapsed().as_secs_f64();
    let top1: Vec<usize> = hits.iter().map(|h| h.first().map(|x| x.index).unwrap_or(usize::MAX)).collect();
    Ok(serde_json::json!({
        "queries": m, "gallery_rows": n, "dim": dim, "k": k, "chunk_rows": chunk_rows,
        "seconds": seconds, "peak_rss_mib": peak_rss_mib(), "threads": rayon::current_num_threads(), "top1": top1,
    })
    .to_string())
}
