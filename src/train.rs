//! The training loop: epochs of class-balanced batches -> embeddings -> miner -> loss ->
//! Adam steps; every `policy_sample_freq` iterations the PADS agent acts; after each epoch
//! the test split is evaluated, metrics.csv is rewritten and the last / best checkpoints
//! are saved. `resume` continues from the last checkpoint exactly.
use crate::config::{Arch, DatasetKind, LossKind, RunConfig, Sampling, SelectOn};
use crate::data::loader::{sequential_batches, spawn_loader, ImageStore};
use crate::data::sampler::ClassBalancedSampler;
use crate::data::transform::{Mode, Transform};
use crate::data::scan::{prepare_eval_split, write_records, SkipRecord};
use crate::data::{load_splits, synth, Split};
use crate::eval::{compute_metrics, Metrics};
use crate::mining::Mining;
use crate::model::EmbeddingNet;
use crate::optim::Adam;
use crate::pads::agent::{Agent, AgentState};
use crate::pads::distribution::Distribution;
use crate::report::{fmt_duration, Progress, RunProgress};
use crate::run::checkpoint::{load_into_varstore, varstore_tensors, Checkpoint};
use crate::run::log::{metrics_row, RunLog};
use crate::run::{fmt, CheckpointChoice, RunDir};
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run folder's last checkpoint.
    pub resume: bool,
    /// No progress output.
    pub quiet: bool,
    /// Evaluate the untrained network first (metrics.csv row for epoch 0).
    pub eval_before: bool,
    /// Stop cleanly after this epoch (checkpoint written); `resume` continues the same run.
    pub stop_after_epoch: Option<usize>,
    /// A new run in a folder that holds another run: remove that run's files first
    /// (without it, such a folder is refused; see `run::folder`).
    pub overwrite: bool,
}

#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Test metrics of the untrained network (with `eval_before`).
    pub before: Option<Metrics>,
    /// Test metrics of the last evaluated epoch (`last_epoch`).
    pub last: Metrics,
    pub last_epoch: usize,
    /// Test metrics of the epoch checkpoint_best holds (`best_epoch`, chosen by the run's
    /// `select_on` rule).
    pub best: Metrics,
    pub best_epoch: usize,
    pub policy_updates: usize,
    pub iterations_per_epoch: usize,
    pub wall_seconds: f64,
}

static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Plain-data part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    pub epoch: usize,
    pub global_iter: usize,
    pub policy_counter: usize,
    pub miner_rng: ChaCha8Rng,
    /// The best value so far of the selection metric (`select_on`: test or validation
    /// Recall@1).
    #[serde(alias = "best_recall1")]
    pub best_score: f64,
    pub best_epoch: usize,
    #[serde(default)]
    pub last_epoch: usize,
    pub best_metrics: Option<Metrics>,
    pub last_metrics: Option<Metrics>,
    pub before_metrics: Option<Metrics>,
    pub distribution: Option<Distribution>,
    pub agent: Option<AgentState>,
    pub n_train_classes: usize,
    pub arch: Arch,
    pub embed_dim: usize,
}

/// For `--dataset synthetic`: makes the synthetic set under an existing data root when it is
/// absent, saying so (see `synth::ensure_for_run`); other datasets are never generated.
pub fn ensure_dataset(cfg: &RunConfig) -> Result<()> {
    synth::ensure_for_run(cfg).map(|_| ())
}

pub fn build_model(cfg: &RunConfig, device: Device) -> Result<(nn::VarStore, EmbeddingNet)> {
    let mut vs = nn::VarStore::new(device);
    let mut model = EmbeddingNet::new(&vs.root(), cfg.arch, cfg.embed_dim);
    model.amp_bf16 = cfg.amp == crate::config::Amp::Bf16;
    if let Some(path) = &cfg.pretrained {
        crate::model::import::load_pretrained(&mut vs, path)?;
    } else if cfg.arch == Arch::Resnet50 && !cfg.not_pretrained {
        bail!("--arch resnet50 needs --pretrained FILE (torchvision ImageNet weights, .safetensors or .pth) or --not-pretrained");
    }
    Ok((vs, model))
}

/// Embeds every image of `store` (evaluation transform) -> (`[N, D]` on `device`, labels).
pub fn embed_store(model: &EmbeddingNet, store: &Arc<ImageStore>, cfg: &RunConfig, device: Device, progress: &Progress, what: &str) -> Result<(Tensor, Vec<i64>)> {
    let bs = cfg.bs.max(1);
    let batches = sequential_batches(store.len(), bs);
    let bar = progress.bar(batches.len() as u64, what);
    let loader = spawn_loader(store.clone(), batches, Transform::new(cfg.image_size, Mode::Eval), 0, cfg.num_workers, 2);
    let mut parts = Vec::new();
    let mut labels = Vec::new();
    for batch in loader {
        let batch = batch?;
        let emb = tch::no_grad(|| model.forward(&batch.images.to_device(device)));
        parts.push(emb);
        labels.extend(batch.labels);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((Tensor::cat(&parts, 0), labels))
}

/// Learning-rate multiplier of 0-based epoch `epoch0`: gamma^(number of `tau` milestones <=
/// epoch0), as torch's MultiStepLR stepped once per epoch in the original main.py.
pub fn lr_factor(cfg: &RunConfig, epoch0: usize) -> f64 {
    cfg.gamma.powi(cfg.tau.iter().filter(|&&t| t <= epoch0).count() as i32)
}

pub struct Trainer<'a> {
    cfg: &'a RunConfig,
    device: Device,
    log: RunLog,
    train_store: Arc<ImageStore>,
    val_store: Option<Arc<ImageStore>>,
    test_store: Arc<ImageStore>,
    /// Query/gallery benchmarks (in_shop): which test items are queries.
    test_is_query: Option<Vec<bool>>,
    sampler: ClassBalancedSampler,
    model_vs: nn::VarStore,
    model: EmbeddingNet,
    beta_vs: nn::VarStore,
    beta: Tensor,
    opt_model: Adam,
    opt_beta: Adam,
    miner: Mining,
    agent: Option<Agent>,
    state: TrainState,
    progress: Progress,
    /// Every image not used as it is (layout skips, dropped evaluation images, replaced
    /// training images): skipped_images.csv, summary.json and report.html.
    skips: Vec<SkipRecord>,
    /// (split, images, classes) for the start-up summary.
    split_sizes: Vec<(&'static str, usize, usize)>,
}

fn store(split: Split, cfg: &RunConfig) -> Arc<ImageStore> {
    let cache = cfg.cache_images || cfg.dataset == DatasetKind::Synthetic;
    Arc::new(ImageStore::new(split, cache, cfg.skip_bad_images))
}

/// An evaluation split's store: its images were all decoded by `prepare_eval_split` (bad
/// ones dropped or refused), so an image failing later is an error, never a stand-in.
fn eval_store(split: Split, cfg: &RunConfig) -> Arc<ImageStore> {
    let cache = cfg.cache_images || cfg.dataset == DatasetKind::Synthetic;
    Arc::new(ImageStore::new(split, cache, false))
}

/// Counts of `records` by where they happened, for summary.json.
fn skip_counts(records: &[SkipRecord]) -> serde_json::Value {
    let count = |split: &str| records.iter().filter(|r| r.split == split).count();
    serde_json::json!({
        "layout": count("layout"),
        "train_replaced": count("train"),
        "val_dropped": count("val"),
        "test_dropped": count("test"),
        "list": "skipped_images.csv",
    })
}

impl<'a> Trainer<'a> {
    pub fn new(cfg: &'a RunConfig, out: &Path, opts: &TrainOptions) -> Result<Self> {
        cfg.validate()?;
        let device = crate::device::parse_device(&cfg.device)?;
        ensure_dataset(cfg)?;
        let splits = load_splits(cfg)?;
        let mut skips = Vec::new();
        for s in &splits.skipped {
            tracing::warn!("skipped {}: {}", s.path.display(), s.reason);
            if s.is_bad_image() {
                skips.push(SkipRecord { split: "layout".into(), path: s.path.clone(), reason: s.reason.clone(), action: "dropped".into() });
            }
        }
        if cfg.sampling == Sampling::Pads && splits.val.is_none() {
            bail!("--sampling pads needs a validation split for its rewards: set --train-val-split below 1");
        }
        // Every evaluation image is decoded before the first epoch: a bad one stops the run
        // now, or (--skip-bad-images) is dropped from its split, never replaced.
        let early = Progress::new(opts.quiet);
        let val = match splits.val {
            Some(v) => {
                let (v, r) = prepare_eval_split(v, "val", cfg.skip_bad_images, cfg.num_workers, &early)?;
                skips.extend(r);
                Some(v)
            }
            None => None,
        };
        let original_test = splits.test.clone();
        let (test, r) = prepare_eval_split(splits.test, "test", cfg.skip_bad_images, cfg.num_workers, &early)?;
        let test_is_query = splits.test_is_query.as_deref().map(|q| crate::data::check::query_flags_after_drop(&original_test, q, &test));
        skips.extend(r);
        let (errors, warnings) = crate::data::check::training_problems(cfg, &splits.train, val.as_ref(), &test, test_is_query.as_deref());
        if !errors.is_empty() {
            bail!("{}", errors.join("\n"));
        }
        for w in warnings {
            tracing::warn!("{w}");
        }
        let sampler = ClassBalancedSampler::with_options(&splits.train, cfg.bs, cfg.samples_per_class, cfg.batch_without_replacement)?;
        let n_train_classes = splits.train.classes.len();
        let mut split_sizes = vec![("train", splits.train.len(), n_train_classes)];
        if let Some(v) = &val {
            split_sizes.push(("validation", v.len(), v.classes.len()));
        }
        split_sizes.push(("test", test.len(), test.classes.len()));
        let train_store = store(splits.train, cfg);
        let val_store = val.map(|v| eval_store(v, cfg));
        let test_store = eval_store(test, cfg);

        // Weight init draws from libtorch's global generator: seed it and build every network
        // under one process-wide lock, so concurrent trainers (tests, sweeps) stay repeatable.
        let init_guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(cfg.seed as i64);
        let (model_vs, model) = build_model(cfg, device)?;
        let beta_vs = nn::VarStore::new(device);
        let beta = beta_vs.root().var("beta", &[n_train_classes as i64], nn::Init::Const(cfg.beta));
        if cfg.beta_constant {
            let _ = beta.set_requires_grad(false);
        }
        let opt_model = Adam::new(&model_vs, cfg.lr, cfg.decay);
        let opt_beta = Adam::new(&beta_vs, cfg.beta_lr, 0.0);
        let miner = Mining::new(cfg);
        let agent = (cfg.sampling == Sampling::Pads).then(|| Agent::new(cfg, cfg.recall_ks().len()));
        drop(init_guard);
        if opts.overwrite && !opts.resume {
            crate::run::folder::clear_run_folder(out)?;
        }
        let run = RunDir::create(out)?;
        let state = TrainState {
            epoch: 0,
            global_iter: 0,
            policy_counter: 0,
            miner_rng: ChaCha8Rng::seed_from_u64(crate::util::mix(cfg.seed, 0x313E4, 0)),
            best_score: f64::NEG_INFINITY,
            best_epoch: 0,
            last_epoch: 0,
            best_metrics: None,
            last_metrics: None,
            before_metrics: None,
            distribution: None,
            agent: None,
            n_train_classes,
            arch: cfg.arch,
            embed_dim: cfg.embed_dim,
        };
        let mut t = Trainer {
            cfg,
            device,
            log: RunLog::new(run, cfg),
            train_store,
            val_store,
            test_store,
            test_is_query,
            sampler,
            model_vs,
            model,
            beta_vs,
            beta,
            opt_model,
            opt_beta,
            miner,
            agent,
            state,
            progress: Progress::new(opts.quiet),
            skips,
            split_sizes,
        };
        if opts.resume {
            t.restore()?;
        }
        Ok(t)
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        let mut state = self.state.clone();
        state.distribution = self.miner.distribution().cloned();
        state.agent = self.agent.as_ref().map(|a| a.snapshot());
        let mut ck = Checkpoint::new(serde_json::to_value(&state)?);
        ck.add_group("model", varstore_tensors(&self.model_vs));
        ck.add_group("beta", varstore_tensors(&self.beta_vs));
        ck.add_group("optim_model", self.opt_model.state());
        ck.add_group("optim_beta", self.opt_beta.state());
        if let Some(agent) = &self.agent {
            ck.add_group("policy", varstore_tensors(&agent.policy.vs));
            ck.add_group("optim_policy", agent.optimizer.state());
            if let Some(old) = &agent.old_policy {
                ck.add_group("policy_old", varstore_tensors(&old.vs));
            }
        }
        Ok(ck)
    }

    fn restore(&mut self) -> Result<()> {
        let path = self.log.run.last_checkpoint();
        if !path.is_file() {
            bail!("--resume: {} has no checkpoint to resume from", path.display());
        }
        let ck = Checkpoint::load(&path)?;
        let state: TrainState = serde_json::from_value(ck.state.clone())
            .with_context(|| format!("{}: checkpoint state does not match this pads version", path.display()))?;
        if state.n_train_classes != self.state.n_train_classes || state.arch != self.cfg.arch {
            bail!("{}: checkpoint was made for another dataset split or architecture", path.display());
        }
        load_into_varstore(&self.model_vs, &ck.group("model"), "model")?;
        load_into_varstore(&self.beta_vs, &ck.group("beta"), "beta")?;
        self.opt_model.load_state(&ck.group("optim_model"))?;
        self.opt_beta.load_state(&ck.group("optim_beta"))?;
        if let (Some(agent), Some(agent_state)) = (&mut self.agent, state.agent.clone()) {
            load_into_varstore(&agent.policy.vs, &ck.group("policy"), "policy")?;
            agent.optimizer.load_state(&ck.group("optim_policy"))?;
            if let Some(old) = &agent.old_policy {
                load_into_varstore(&old.vs, &ck.group("policy_old"), "old policy")?;
            }
            agent.restore(agent_state);
        }
        if let (Some(d), Some(saved)) = (self.miner.distribution_mut(), state.distribution.clone()) {
            *d = saved;
        }
        // Keep only the log lines the checkpoint has seen.
        self.log.truncate_to(state.epoch, state.agent.as_ref().map(|a| a.call_count).unwrap_or(0))?;
        self.state = state;
        tracing::info!("resumed {} after epoch {}", self.log.run.root.display(), self.state.epoch);
        Ok(())
    }

    fn evaluate_test(&self, what: &str) -> Result<Metrics> {
        let (emb, labels) = embed_store(&self.model, &self.test_store, self.cfg, self.device, &self.progress, what)?;
        let opts = self.cfg.eval_options();
        let m = match &self.test_is_query {
            Some(is_query) => crate::eval::compute_metrics_query_gallery_split(&emb, &labels, is_query, &opts)?.0,
            None => compute_metrics(&emb, &labels, &opts)?,
        };
        self.retrieval_grid(&emb, &labels)?;
        Ok(m)
    }

    /// retrieval.png: six test queries spread over the split with their five nearest
    /// (`retrieval_picks`). `emb`: the test embeddings [N, D].
    fn retrieval_grid(&self, emb: &Tensor, labels: &[i64]) -> Result<()> {
        let dim = emb.size()[1] as usize;
        let host = Vec::<f32>::try_from(emb.to_kind(Kind::Float).to_device(Device::Cpu).contiguous().flatten(0, -1))?;
        let mut rows = Vec::new();
        for (q, near) in retrieval_picks(&host, dim, self.test_is_query.as_deref(), 6, 5) {
            let query = (*self.test_store.get(q)?).clone();
            let mut neighbours = Vec::new();
            for j in near {
                neighbours.push(((*self.test_store.get(j)?).clone(), labels[j] == labels[q]));
            }
            rows.push((query, neighbours));
        }
        crate::report::plots::retrieval_grid(&self.log.run.path("retrieval.png"), &rows, 72)
    }

    /// Validation metrics (no mAP@R: the policy does not use it) and their named values,
    /// which leave out what was not computed.
    fn validate(&self) -> Result<(Metrics, Vec<(String, f64)>)> {
        let store = self.val_store.as_ref().context("no validation split (--train-val-split is 1)")?;
        let (emb, labels) = embed_store(&self.model, store, self.cfg, self.device, &self.progress, "validation")?;
        let mut opts = self.cfg.eval_options();
        let m = crate::pads::agent::validation_metrics(&emb, &labels, opts.clone())?;
        opts.with_map = false; // as validation_metrics computes them: no mAP@R
        let named = m.named_for(&opts);
        Ok((m, named))
    }

    fn policy_step(&mut self, epoch: usize, progress: f64) -> Result<()> {
        let (val, named) = self.validate()?;
        let agent = self.agent.as_mut().expect("agent");
        let dist = self.miner.distribution_mut().expect("PADS miner");
        let mut record = agent.step(&val, dist, progress, epoch, self.state.global_iter)?;
        record.val_metrics = named.clone();
        let step = self.state.global_iter as i64;
        self.log.policy_step(step, &named, &record, self.miner.distribution())
    }

    fn policy_updates(&self) -> usize {
        self.agent.as_ref().map(|a| a.call_count).unwrap_or(0)
    }

    fn train_epoch(&mut self, epoch0: usize, clock: &mut RunProgress) -> Result<f64> {
        let cfg = self.cfg;
        let factor = lr_factor(cfg, epoch0);
        self.opt_model.lr = cfg.lr * factor;
        self.opt_beta.lr = cfg.beta_lr * factor;
        let batches = self.sampler.epoch(cfg.seed, epoch0);
        let n_batches = batches.len();
        let total_iters = (cfg.n_epochs * n_batches).max(1);
        let loader = spawn_loader(
            self.train_store.clone(),
            batches,
            Transform::new(cfg.image_size, Mode::Train),
            crate::util::mix(cfg.seed, 0x10AD, epoch0 as u64),
            cfg.num_workers,
            3,
        );
        let bar = self.progress.bar(n_batches as u64, &format!("epoch {}/{}", epoch0 + 1, cfg.n_epochs));
        let mut loss_sum = 0.0;
        for (it, batch) in loader.enumerate() {
            let batch = batch?;
            let emb = self.model.forward(&batch.images.to_device(self.device));
            if !bool::try_from(emb.isfinite().all())? {
                bail!("embeddings hold NaN or Inf at epoch {}, iteration {}; the last good checkpoint is {}", epoch0 + 1, it + 1, self.log.run.last_checkpoint().display());
            }
            let triplets = self.miner.mine(&emb, &batch.labels, &mut self.state.miner_rng);
            if triplets.is_empty() {
                bail!("the batch at epoch {}, iteration {} holds no valid triplet (needs two classes with two images each)", epoch0 + 1, it + 1);
            }
            let loss = match cfg.loss {
                LossKind::Margin => {
                    let anchor_classes: Vec<i64> = triplets.anchors.iter().map(|&a| batch.labels[a as usize]).collect();
                    let ac = Tensor::from_slice(&anchor_classes).to_device(self.device);
                    crate::loss::margin_loss(&emb, &triplets, &ac, &self.beta, cfg.margin)
                }
                LossKind::Triplet => crate::loss::triplet_loss(&emb, &triplets, cfg.margin),
            };
            let loss_value = loss.double_value(&[]);
            if !loss_value.is_finite() {
                bail!("loss is {loss_value} (NaN or Inf) at epoch {}, iteration {}; the last good checkpoint is {}", epoch0 + 1, it + 1, self.log.run.last_checkpoint().display());
            }
            self.opt_model.zero_grad();
            self.opt_beta.zero_grad();
            loss.backward();
            self.opt_model.step();
            if !cfg.beta_constant {
                self.opt_beta.step();
            }
            loss_sum += loss_value;
            self.state.global_iter += 1;
            if self.agent.is_some() && epoch0 >= cfg.policy_training_delay {
                self.state.policy_counter += 1;
                if crate::pads::is_policy_step(self.state.policy_counter, cfg.policy_sample_freq) {
                    let progress = self.state.global_iter as f64 / total_iters as f64;
                    self.policy_step(epoch0 + 1, progress).with_context(|| {
                        format!(
                            "PADS policy step at epoch {}, iteration {} failed; the last good checkpoint is {}",
                            epoch0 + 1,
                            it + 1,
                            self.log.run.last_checkpoint().display()
                        )
                    })?;
                }
            }
            if self.progress.is_tty() {
                let eta = clock.eta_seconds(self.state.global_iter).map(fmt_duration).unwrap_or_else(|| "?".into());
                bar.set_message(format!("loss {loss_value:.4}, run ETA {eta}"));
            } else if let Some(line) = clock.line_due(self.state.global_iter, epoch0 + 1, cfg.n_epochs, loss_value) {
                self.progress.line(&line);
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let mut new_bad = false;
        for (idx, w) in self.train_store.take_bad() {
            tracing::warn!("bad training image replaced by another image of its class: {w}");
            let path = self.train_store.split.items[idx].path.clone();
            if !self.skips.iter().any(|r| r.split == "train" && r.path == path) {
                self.skips.push(SkipRecord { split: "train".into(), path, reason: w, action: "replaced".into() });
                new_bad = true;
            }
        }
        if new_bad {
            write_records(&self.log.run.path("skipped_images.csv"), &self.skips)?;
        }
        Ok(loss_sum / n_batches.max(1) as f64)
    }

    fn metrics_row(&self, epoch: usize, loss: f64, m: &Metrics, lr: f64, val_recall1: Option<f64>) -> Vec<String> {
        let beta_mean = self.beta.mean(Kind::Float).double_value(&[]);
        metrics_row(epoch, loss, m, lr, beta_mean, self.policy_updates(), val_recall1)
    }

    /// Validation Recall@1 when the best checkpoint is chosen on it (`--select-on val`).
    fn selection_recall1(&self) -> Result<Option<f64>> {
        if self.cfg.select_on != SelectOn::Val {
            return Ok(None);
        }
        Ok(Some(self.validate()?.0.recall1()))
    }

    /// The start-up block (see `report::StartupSummary`).
    fn startup_summary(&self, resume: bool) -> String {
        crate::report::StartupSummary {
            cfg: self.cfg,
            run_folder: &self.log.run.root,
            resumed_after: resume.then_some(self.state.epoch),
            splits: &self.split_sizes,
            device: self.device,
            iterations_per_epoch: self.sampler.batches_per_epoch(),
            planned_policy_updates: planned_policy_updates(self.cfg, self.sampler.batches_per_epoch()),
        }
        .text()
    }

    pub fn run(mut self, opts: &TrainOptions) -> Result<TrainSummary> {
        let cfg = self.cfg;
        let start = Instant::now();
        self.log.start(opts.resume, self.state.epoch, self.state.global_iter as i64)?;
        if !self.skips.is_empty() || self.log.run.path("skipped_images.csv").is_file() {
            // On resume, keep the training replacements found before the interruption.
            if let Ok(text) = std::fs::read_to_string(self.log.run.path("skipped_images.csv")) {
                for line in text.lines().skip(1).filter(|l| l.starts_with("train,replaced,")) {
                    let path = line.splitn(3, ',').nth(2).and_then(|r| r.strip_prefix('"')).and_then(|r| r.split('"').next()).unwrap_or("");
                    if !self.skips.iter().any(|s| s.path.as_os_str() == path) {
                        let reason = line.rsplit_once(",\"").map(|(_, r)| r.trim_end_matches('"').to_string()).unwrap_or_default();
                        self.skips.push(SkipRecord { split: "train".into(), path: path.into(), reason, action: "replaced".into() });
                    }
                }
            }
            write_records(&self.log.run.path("skipped_images.csv"), &self.skips)?;
        }
        if !opts.quiet {
            self.progress.line(&self.startup_summary(opts.resume));
        }
        let ipe = self.sampler.batches_per_epoch();
        let mut clock = RunProgress::new(self.state.global_iter, cfg.n_epochs * ipe, cfg.bs);
        if opts.eval_before && self.state.epoch == 0 && self.state.before_metrics.is_none() {
            let t0 = Instant::now();
            let m = self.evaluate_test("test (untrained)")?;
            let val_r1 = self.selection_recall1()?;
            let row = self.metrics_row(0, f64::NAN, &m, cfg.lr, val_r1);
            self.log.push_epoch(0, row, t0.elapsed().as_secs_f64())?;
            self.log.scalars("test", 0, &m.named())?;
            self.state.before_metrics = Some(m);
        }
        for epoch0 in self.state.epoch..cfg.n_epochs {
            let t0 = Instant::now();
            let loss = self.train_epoch(epoch0, &mut clock)?;
            let step = self.state.global_iter as i64;
            let epoch = epoch0 + 1;
            let evaluate = epoch % cfg.eval_every == 0 || epoch == cfg.n_epochs;
            self.state.epoch = epoch;
            let row = if evaluate {
                let m = self.evaluate_test("test")?;
                let val_r1 = self.selection_recall1()?;
                let score = val_r1.unwrap_or(m.recall1());
                let row = self.metrics_row(epoch, loss, &m, self.opt_model.lr, val_r1);
                self.log.scalars("test", step, &m.named())?;
                if let Some(v) = val_r1 {
                    self.log.scalars("val", step, &[("recall@1".into(), v)])?;
                }
                self.state.last_metrics = Some(m.clone());
                self.state.last_epoch = epoch;
                if score > self.state.best_score {
                    self.state.best_score = score;
                    self.state.best_epoch = epoch;
                    self.state.best_metrics = Some(m.clone());
                    self.checkpoint()?.save(&self.log.run.best_checkpoint())?;
                }
                if !opts.quiet {
                    let summary: Vec<String> = m.named().iter().take(4).map(|(n, v)| format!("{n} {v:.4}")).collect();
                    let eta = clock.eta_seconds(self.state.global_iter).map(|s| format!(", run ETA {}", fmt_duration(s))).unwrap_or_default();
                    self.progress.line(&format!("epoch {epoch}/{}: loss {loss:.4}, test {}{eta}", cfg.n_epochs, summary.join(", ")));
                }
                row
            } else {
                vec![epoch.to_string(), fmt(loss)]
            };
            let beta_mean = self.beta.mean(Kind::Float).double_value(&[]);
            self.log.scalars("train", step, &[("loss".into(), loss), ("lr".into(), self.opt_model.lr), ("beta_mean".into(), beta_mean)])?;
            self.log.push_epoch(epoch, row, t0.elapsed().as_secs_f64())?;
            self.checkpoint()?.save(&self.log.run.last_checkpoint())?;
            self.log.after_epoch()?;
            if opts.stop_after_epoch == Some(epoch) {
                break;
            }
        }
        let last = self.state.last_metrics.clone().context("no evaluation happened")?;
        if self.state.epoch == cfg.n_epochs {
            let best = self.state.best_metrics.clone().unwrap_or_else(|| last.clone());
            self.log.finish(self.state.best_epoch, &best, self.state.last_epoch, &last, self.policy_updates(), skip_counts(&self.skips))?;
        }
        Ok(TrainSummary {
            before: self.state.before_metrics.clone(),
            best: self.state.best_metrics.clone().unwrap_or_else(|| last.clone()),
            last,
            last_epoch: self.state.last_epoch,
            best_epoch: self.state.best_epoch,
            policy_updates: self.policy_updates(),
            iterations_per_epoch: self.sampler.batches_per_epoch(),
            wall_seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// PADS policy updates a whole run makes: one per `policy_sample_freq` iterations counted
/// from epoch `policy_training_delay` on (the trainer's `policy_counter`), 0 without PADS.
pub fn planned_policy_updates(cfg: &RunConfig, iterations_per_epoch: usize) -> usize {
    if cfg.sampling != Sampling::Pads || cfg.policy_sample_freq == 0 {
        return 0;
    }
    // `pads::is_policy_step`: after iterations M + 1, 2M + 1, ... of the acting epochs.
    let acting = cfg.n_epochs.saturating_sub(cfg.policy_training_delay) * iterations_per_epoch;
    acting.saturating_sub(1) / cfg.policy_sample_freq
}

/// Trains (or with `opts.resume` continues) the run in `out`. The config is stored with
/// absolute paths. Errors: a new run in a folder holding another run, without
/// `opts.overwrite` (before any work); everything `Trainer::new` and `run` report.
pub fn train(cfg: &RunConfig, out: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    let cfg = cfg.with_absolute_paths()?;
    if !opts.resume {
        crate::run::folder::check_new_run_folder(out, opts.overwrite)?;
    }
    Trainer::new(&cfg, out, opts)?.run(opts)
}

/// Rebuilds a run's model from its best (else last) checkpoint.
pub fn load_run_model(run: &RunDir, cfg: &RunConfig, device: Device) -> Result<(nn::VarStore, EmbeddingNet)> {
    let path = if run.best_checkpoint().is_file() { run.best_checkpoint() } else { run.last_checkpoint() };
    load_model_file(&path, cfg, device)
}

fn load_model_file(path: &Path, cfg: &RunConfig, device: Device) -> Result<(nn::VarStore, EmbeddingNet)> {
    model_from_checkpoint(&Checkpoint::load(path)?, cfg, device)
}

/// The embedding network of a loaded checkpoint (its `model` group) on `device`.
fn model_from_checkpoint(ck: &Checkpoint, cfg: &RunConfig, device: Device) -> Result<(nn::VarStore, EmbeddingNet)> {
    let vs = nn::VarStore::new(device);
    let mut model = EmbeddingNet::new(&vs.root(), cfg.arch, cfg.embed_dim);
    model.amp_bf16 = cfg.amp == crate::config::Amp::Bf16;
    load_into_varstore(&vs, &ck.group("model"), "model")?;
    Ok((vs, model))
}

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

/// Reads a run folder's config, with an optional new data root.
/// The data root is found as `run::folder::stored_config` says (an error names --data-root).
pub fn run_config(run: &RunDir, data_root: Option<&Path>) -> Result<RunConfig> {
    crate::run::folder::stored_config(&run.root, data_root)
}

/// Which checkpoint `evaluate_checkpoint` used: best or last, its epoch, and how the best
/// one was chosen (the run's `select_on` rule).
#[derive(Debug, Clone)]
pub struct CheckpointInfo {
    pub which: CheckpointChoice,
    pub path: std::path::PathBuf,
    pub epoch: Option<usize>,
    pub rule: &'static str,
}

impl CheckpointInfo {
    /// E.g. "best checkpoint (epoch 7, chosen by highest test Recall@1)".
    pub fn describe(&self) -> String {
        let epoch = self.epoch.map(|e| format!("epoch {e}, ")).unwrap_or_default();
        match self.which {
            CheckpointChoice::Best => format!("best checkpoint ({epoch}chosen by {})", self.rule),
            CheckpointChoice::Last => format!("last checkpoint ({epoch}the latest epoch)"),
        }
    }
}

/// `pads eval --checkpoint best|last`: embeds the run's test split with the chosen
/// checkpoint's model and computes every metric (query -> gallery for in_shop; undefined
/// metrics warned and NaN). Bad test images stop it, or with the run's --skip-bad-images are
/// dropped, as in training. Errors: the run folder or that checkpoint is missing (the
/// message names it), or the data root does not hold the run's dataset.
pub fn evaluate_checkpoint(run_dir: &Path, data_root: Option<&Path>, which: CheckpointChoice, quiet: bool) -> Result<(Metrics, CheckpointInfo)> {
    let run = RunDir::open(run_dir)?;
    let cfg = run_config(&run, data_root)?;
    let device = crate::device::parse_device(&cfg.device)?;
    let path = run.checkpoint(which)?;
    let ck = Checkpoint::load(&path)?;
    let epoch = ck.state.get("epoch").and_then(|e| e.as_u64()).map(|e| e as usize);
    let (_vs, model) = model_from_checkpoint(&ck, &cfg, device)?;
    let splits = load_splits(&cfg)?;
    let progress = Progress::new(quiet);
    let original_test = splits.test.clone();
    let (test, _) = prepare_eval_split(splits.test, "test", cfg.skip_bad_images, cfg.num_workers, &progress)?;
    let test_is_query = splits.test_is_query.as_deref().map(|q| crate::data::check::query_flags_after_drop(&original_test, q, &test));
    let test = eval_store(test, &cfg);
    let (emb, labels) = embed_store(&model, &test, &cfg, device, &progress, "test")?;
    let opts = cfg.eval_options();
    let info = CheckpointInfo { which, path, epoch, rule: cfg.select_on.rule() };
    if let Some(is_query) = &test_is_query {
        return Ok((crate::eval::compute_metrics_query_gallery_split(&emb, &labels, is_query, &opts)?.0, info));
    }
    let m = crate::eval::evaluate(&emb, &labels, &opts)?;
    for w in &m.warnings {
        tracing::warn!("{w}");
    }
    Ok((m.to_metrics(), info))
}

/// `pads eval` with the best checkpoint: `evaluate_checkpoint(.., CheckpointChoice::Best, ..)`.
pub fn evaluate_run(run_dir: &Path, data_root: Option<&Path>, quiet: bool) -> Result<Metrics> {
    Ok(evaluate_checkpoint(run_dir, data_root, CheckpointChoice::Best, quiet)?.0)
}

/// `pads embed --split`: writes embeddings.npy, labels.npy, paths.txt and classes.txt
/// (`label<TAB>class name`) of one split.
pub fn embed_run(run_dir: &Path, data_root: Option<&Path>, split: &str, out: &Path, quiet: bool) -> Result<usize> {
    let run = RunDir::open(run_dir)?;
    let cfg = run_config(&run, data_root)?;
    let device = crate::device::parse_device(&cfg.device)?;
    let (_vs, model) = load_run_model(&run, &cfg, device)?;
    let splits = load_splits(&cfg)?;
    let chosen = match split {
        "test" => splits.test,
        "train" => splits.train,
        "val" => splits.val.context("this run has no validation split")?,
        // Query/gallery layouts (in_shop): the two halves of the test split, labelled as in
        // the test split (classes.txt is the test split's), for `pads metrics --query-*`.
        "query" | "gallery" => {
            let is_query = splits.test_is_query.as_ref().with_context(|| format!("--split {split}: the {} layout has no query/gallery test split", crate::config::cli_value(&cfg.dataset)))?;
            let mut part = splits.test.clone();
            part.items = splits.test.items.iter().zip(is_query).filter(|(_, &q)| q == (split == "query")).map(|(i, _)| i.clone()).collect();
            part
        }
        s => bail!("--split: expected train, val, test (or query, gallery for in_shop), got {s:?}"),
    };
    // classes.txt: `label<TAB>class folder name`, one line per label index.
    let classes: Vec<String> = chosen.classes.iter().enumerate().map(|(i, c)| format!("{i}\t{c}")).collect();
    let progress = Progress::new(quiet);
    let (chosen, _) = prepare_eval_split(chosen, split, cfg.skip_bad_images, cfg.num_workers, &progress)?;
    let paths: Vec<String> = chosen.items.iter().map(|i| i.path.display().to_string()).collect();
    let st = eval_store(chosen, &cfg);
    let (emb, labels) = embed_store(&model, &st, &cfg, device, &progress, split)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    emb.to_device(Device::Cpu).write_npy(out.join("embeddings.npy"))?;
    Tensor::from_slice(&labels).write_npy(out.join("labels.npy"))?;
    crate::util::write_atomic(&out.join("paths.txt"), (paths.join("\n") + "\n").as_bytes())?;
    crate::util::write_atomic(&out.join("classes.txt"), (classes.join("\n") + "\n").as_bytes())?;
    Ok(labels.len())
}
