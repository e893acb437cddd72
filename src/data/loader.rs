//! Multi-threaded loading: a producer thread decodes and augments each batch on a pool of
//! worker threads and hands finished batches over a bounded channel (prefetch). Every image's
//! augmentation draws from its own generator seeded by (seed, batch, position), so the batches
//! are the same whatever the number of threads.
use super::transform::{load_rgb, Transform};
use super::Split;
use anyhow::{Context, Result};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use tch::Tensor;

/// The images of one split, optionally cached decoded in RAM.
pub struct ImageStore {
    pub split: Split,
    by_class: Vec<Vec<usize>>,
    cache: Option<Vec<OnceLock<Arc<RgbImage>>>>,
    skip_bad: bool,
    /// Indices found bad so far (each warned once).
    bad: Mutex<std::collections::BTreeSet<usize>>,
    warnings: Mutex<Vec<(usize, String)>>,
}

impl ImageStore {
    pub fn new(split: Split, cache: bool, skip_bad: bool) -> Self {
        let by_class = split.by_class();
        let cache = cache.then(|| (0..split.len()).map(|_| OnceLock::new()).collect());
        ImageStore { split, by_class, cache, skip_bad, bad: Mutex::new(Default::default()), warnings: Mutex::new(Vec::new()) }
    }

    pub fn len(&self) -> usize {
        self.split.len()
    }

    pub fn is_empty(&self) -> bool {
        self.split.is_empty()
    }

    /// Distinct images that failed to decode and were replaced (with --skip-bad-images).
    pub fn bad_images(&self) -> usize {
        self.bad.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// Indices of the images replaced so far.
    pub fn bad_indices(&self) -> Vec<usize> {
        self.bad.lock().map(|b| b.iter().copied().collect()).unwrap_or_default()
    }

    /// New warnings since the last call: one per distinct bad image, however often it is read.
    pub fn take_warnings(&self) -> Vec<String> {
        self.take_bad().into_iter().map(|(_, w)| w).collect()
    }

    /// As `take_warnings`, with the index of each newly replaced image.
    pub fn take_bad(&self) -> Vec<(usize, String)> {
        self.warnings.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default()
    }

    fn decode(&self, idx: usize) -> Result<Arc<RgbImage>> {
        let path = &self.split.items[idx].path;
        match &self.cache {
            Some(cache) => {
                if let Some(img) = cache[idx].get() {
                    return Ok(img.clone());
                }
                let img = Arc::new(load_rgb(path)?);
                Ok(cache[idx].get_or_init(|| img).clone())
            }
            None => Ok(Arc::new(load_rgb(path)?)),
        }
    }

    /// The image at `idx`; with skip_bad, a bad image is replaced by the next good image of
    /// its class (deterministic) and counted.
    pub fn get(&self, idx: usize) -> Result<Arc<RgbImage>> {
        match self.decode(idx) {
            Ok(img) => Ok(img),
            Err(e) if self.skip_bad => {
                let first_time = self.bad.lock().map(|mut b| b.insert(idx)).unwrap_or(false);
                if first_time {
                    if let Ok(mut w) = self.warnings.lock() {
                        w.push((idx, format!("{e:#}")));
                    }
                }
                let class = &self.by_class[self.split.items[idx].label];
                let pos = class.iter().position(|&i| i == idx).unwrap_or(0);
                for k in 1..class.len() {
                    if let Ok(img) = self.decode(class[(pos + k) % class.len()]) {
                        // Cache the stand-in too, so a bad file is reported once, not every epoch.
                        if let Some(cache) = &self.cache {
                            return Ok(cache[idx].get_or_init(|| img).clone());
                        }
                        return Ok(img);
                    }
                }
                Err(e).context("no readable image left in its class")
            }
            Err(e) => Err(e.context("pass --skip-bad-images to replace unreadable images and go on")),
        }
    }

    /// Decodes every image once (fills the cache; surfaces bad files before training starts).
    pub fn warm(&self, threads: usize) -> Result<()> {
        pool(threads).install(|| (0..self.len()).into_par_iter().try_for_each(|i| self.get(i).map(|_| ())))
    }
}

pub struct Batch {
    pub images: Tensor,
    pub labels: Vec<i64>,
    pub indices: Vec<usize>,
}

struct RawBatch {
    images: Tensor,
    labels: Vec<i64>,
    indices: Vec<usize>,
}

pub struct BatchIter {
    rx: Receiver<Result<RawBatch>>,
    _producer: std::thread::JoinHandle<()>,
}

impl Iterator for BatchIter {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.rx.recv().ok()?;
        Some(raw.map(|raw| Batch { images: raw.images, labels: raw.labels, indices: raw.indices }))
    }
}

pub fn default_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(default_threads(threads))
        .build()
        .expect("thread pool")
}

/// Loads `batches` (item indices) in order; `seed` fixes every augmentation.
pub fn spawn_loader(
    store: Arc<ImageStore>,
    batches: Vec<Vec<usize>>,
    transform: Transform,
    seed: u64,
    threads: usize,
    prefetch: usize,
) -> BatchIter {
    let (tx, rx) = sync_channel(prefetch.max(1));
    let size = transform.size as usize;
    let producer = std::thread::spawn(move || {
        let pool = pool(threads);
        let per_image = 3 * size * size;
        for (b, batch) in batches.into_iter().enumerate() {
            // Every image is written straight into the batch tensor's memory.
            let images = Tensor::empty([batch.len() as i64, 3, size as i64, size as i64], (tch::Kind::Float, tch::Device::Cpu));
            // SAFETY: a fresh, contiguous float32 CPU tensor of batch.len() * per_image
            // elements, owned here and not read or aliased until the slice is dropped.
            let len = batch.len() * per_image;
            let pixels: &mut [f32] = if len == 0 { &mut [] } else { unsafe { std::slice::from_raw_parts_mut(images.data_ptr() as *mut f32, len) } };
            let result: Result<()> = pool.install(|| {
                pixels.par_chunks_mut(per_image.max(1)).zip(batch.par_iter()).enumerate().try_for_each(|(pos, (out, &idx))| {
                    let img = store.get(idx)?;
                    let mut rng = ChaCha8Rng::seed_from_u64(crate::util::mix(seed, b as u64, pos as u64));
                    transform.apply_into(&img, &mut rng, out);
                    Ok(())
                })
            });
            let raw = result.map(|()| RawBatch {
                images,
                labels: batch.iter().map(|&i| store.split.items[i].label as i64).collect(),
                indices: batch.clone(),
            });
            let failed = raw.is_err();
            if tx.send(raw).is_err() || failed {
                return;
            }
        }
    });
    BatchIter { rx, _producer: producer }
}

/// Sequential batches over a whole split (evaluation order).
pub fn sequential_batches(n: usize, bs: usize) -> Vec<Vec<usize>> {
    (0..n).collect::<Vec<_>>().chunks(bs.max(1)).map(|c| c.to_vec()).collect()
}
