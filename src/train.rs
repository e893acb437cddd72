//! The training loop: epochs of class-balanced batches -> embeddings -> miner -> loss ->
//! Adam steps; every `policy_sample_freq` iterations the PADS agent acts; after each epoch
//! the test split is evaluated, metrics.csv is rewritten and the last / best checkpoints
//! are saved. `resume` continues from the last checkpoint exactly.
use crate::config::{Arch, DatasetKind, LossKind, RunConfig, Sampling};
use crate::data::loader::{sequential_batches, spawn_loader, ImageStore};
use crate::data::sampler::ClassBalancedSampler;
use crate::data::transform::{Mode, Transform};
use crate::data::{load_splits, synth, Split};
use crate::eval::{compute_metrics, compute_metrics_and_neighbours, EvalOptions, Metrics};
use crate::miner::{build_miner, Miner};
use crate::model::EmbeddingNet;
use crate::optim::Adam;
use crate::pads::agent::{Agent, AgentState, PolicyRecord};
use crate::pads::distribution::Distribution;
use crate::report::tensorboard::EventWriter;
use crate::report::Progress;
use crate::run::checkpoint::{load_into_varstore, varstore_tensors, Checkpoint};
use crate::run::{fmt, CsvTable, RunDir};
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
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
}

#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub before: Option<Metrics>,
    pub last: Metrics,
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
    pub best_recall1: f64,
    pub best_epoch: usize,
    pub best_metrics: Option<Metrics>,
    pub last_metrics: Option<Metrics>,
    pub before_metrics: Option<Metrics>,
    pub distribution: Option<Distribution>,
    pub agent: Option<AgentState>,
    pub n_train_classes: usize,
    pub arch: Arch,
    pub embed_dim: usize,
}

/// Makes sure the synthetic set exists under the data root, generated with the default
/// options: the data must not depend on which run's `--seed` happened to come first.
pub fn ensure_dataset(cfg: &RunConfig) -> Result<()> {
    if cfg.dataset == DatasetKind::Synthetic && !cfg.data_root.join("synthetic").join("images").is_dir() {
        std::fs::create_dir_all(&cfg.data_root)
            .with_context(|| format!("cannot create data root {}", cfg.data_root.display()))?;
        synth::ensure(&cfg.data_root, &synth::SynthOptions::default())?;
    }
    Ok(())
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

fn metrics_header(cfg: &RunConfig) -> Vec<String> {
    let mut h = vec!["epoch".to_string(), "loss".to_string()];
    h.extend(cfg.recall_ks().iter().map(|k| format!("recall@{k}")));
    h.extend(["nmi", "f1", "map@r", "intra", "inter", "lr", "beta_mean", "policy_updates"].map(String::from));
    h
}

pub struct Trainer<'a> {
    cfg: &'a RunConfig,
    device: Device,
    run: RunDir,
    train_store: Arc<ImageStore>,
    val_store: Option<Arc<ImageStore>>,
    test_store: Arc<ImageStore>,
    sampler: ClassBalancedSampler,
    model_vs: nn::VarStore,
    model: EmbeddingNet,
    beta_vs: nn::VarStore,
    beta: Tensor,
    opt_model: Adam,
    opt_beta: Adam,
    miner: Box<dyn Miner>,
    agent: Option<Agent>,
    state: TrainState,
    progress: Progress,
    tensorboard: Option<EventWriter>,
}

fn store(split: Split, cfg: &RunConfig) -> Arc<ImageStore> {
    let cache = cfg.cache_images || cfg.dataset == DatasetKind::Synthetic;
    Arc::new(ImageStore::new(split, cache, cfg.skip_bad_images))
}

impl<'a> Trainer<'a> {
    pub fn new(cfg: &'a RunConfig, out: &Path, opts: &TrainOptions) -> Result<Self> {
        cfg.validate()?;
        let device = crate::device::parse_device(&cfg.device)?;
        ensure_dataset(cfg)?;
        let splits = load_splits(cfg)?;
        for s in &splits.skipped {
            tracing::warn!("skipped {}: {}", s.path.display(), s.reason);
        }
        if cfg.sampling == Sampling::Pads && splits.val.is_none() {
            bail!("--sampling pads needs a validation split for its rewards: set --train-val-split below 1");
        }
        let sampler = ClassBalancedSampler::with_options(&splits.train, cfg.bs, cfg.samples_per_class, cfg.batch_without_replacement)?;
        let n_train_classes = splits.train.classes.len();
        let train_store = store(splits.train, cfg);
        let val_store = splits.val.map(|v| store(v, cfg));
        let test_store = store(splits.test, cfg);

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
        let miner = build_miner(cfg);
        let agent = (cfg.sampling == Sampling::Pads).then(|| Agent::new(cfg, cfg.recall_ks().len()));
        drop(init_guard);
        let run = RunDir::create(out)?;
        let state = TrainState {
            epoch: 0,
            global_iter: 0,
            policy_counter: 0,
            miner_rng: ChaCha8Rng::seed_from_u64(crate::util::mix(cfg.seed, 0x313E4, 0)),
            best_recall1: f64::NEG_INFINITY,
            best_epoch: 0,
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
            run,
            train_store,
            val_store,
            test_store,
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
            tensorboard: None,
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
        let path = self.run.last_checkpoint();
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
        let keep_epochs = state.epoch;
        if let Ok(mut table) = CsvTable::read(&self.run.metrics_csv()) {
            table.rows.retain(|r| r.first().and_then(|e| e.parse::<usize>().ok()).is_some_and(|e| e <= keep_epochs));
            self.run.write_table(&self.run.metrics_csv(), &table)?;
        }
        if let Ok(text) = std::fs::read_to_string(self.run.progression()) {
            let calls = state.agent.as_ref().map(|a| a.call_count).unwrap_or(0);
            let kept: String = text
                .lines()
                .filter(|l| serde_json::from_str::<PolicyRecord>(l).is_ok_and(|r| r.call < calls))
                .map(|l| format!("{l}\n"))
                .collect();
            crate::util::write_atomic(&self.run.progression(), kept.as_bytes())?;
        }
        self.state = state;
        tracing::info!("resumed {} after epoch {}", self.run.root.display(), self.state.epoch);
        Ok(())
    }

    fn evaluate_test(&self, what: &str) -> Result<Metrics> {
        let (emb, labels) = embed_store(&self.model, &self.test_store, self.cfg, self.device, &self.progress, what)?;
        let mut opts = EvalOptions::new(self.cfg.recall_ks(), self.cfg.seed);
        opts.kmeans_plusplus = self.cfg.kmeans_plusplus;
        let (m, nn) = compute_metrics_and_neighbours(&emb, &labels, &opts)?;
        self.retrieval_grid(&nn, &labels)?;
        Ok(m)
    }

    /// retrieval.png: six test queries spread over the split with their five nearest.
    fn retrieval_grid(&self, nn: &crate::eval::knn::Neighbours, labels: &[i64]) -> Result<()> {
        let n = labels.len();
        let mut rows = Vec::new();
        for q in (0..6).map(|i| i * n / 6) {
            let query = (*self.test_store.get(q)?).clone();
            let mut neighbours = Vec::new();
            for &j in nn.row(q).iter().take(5) {
                neighbours.push(((*self.test_store.get(j as usize)?).clone(), labels[j as usize] == labels[q]));
            }
            rows.push((query, neighbours));
        }
        crate::report::plots::retrieval_grid(&self.run.path("retrieval.png"), &rows, 72)
    }

    fn log_scalars(&mut self, prefix: &str, step: i64, values: &[(String, f64)]) -> Result<()> {
        if let Some(tb) = &mut self.tensorboard {
            for (name, v) in values {
                tb.scalar(&format!("{prefix}/{name}"), step, *v)?;
            }
            tb.flush()?;
        }
        Ok(())
    }

    fn validate_for_policy(&self) -> Result<Metrics> {
        let store = self.val_store.as_ref().expect("PADS has a validation split");
        let (emb, labels) = embed_store(&self.model, store, self.cfg, self.device, &self.progress, "validation")?;
        let mut opts = EvalOptions::new(self.cfg.recall_ks(), self.cfg.seed);
        opts.with_map = false;
        opts.kmeans_iters = crate::eval::KMEANS_ITERS_VALIDATION;
        opts.kmeans_plusplus = self.cfg.kmeans_plusplus;
        compute_metrics(&emb, &labels, &opts)
    }

    fn policy_step(&mut self, epoch: usize, progress: f64) -> Result<()> {
        let val = self.validate_for_policy()?;
        let agent = self.agent.as_mut().expect("agent");
        let dist = self.miner.distribution_mut().expect("PADS miner");
        let record = agent.step(&val, dist, progress, epoch, self.state.global_iter)?;
        let step = self.state.global_iter as i64;
        let mut scalars = val.named();
        scalars.push(("reward_metric".into(), record.reward_metric));
        self.log_scalars("val", step, &scalars)?;
        let mut pads_scalars = Vec::new();
        for (name, v) in [("reward", record.reward), ("advantage", record.advantage), ("policy_loss", record.policy_loss), ("value_loss", record.value_loss)] {
            if let Some(v) = v {
                pads_scalars.push((name.to_string(), v));
            }
        }
        self.log_scalars("pads", step, &pads_scalars)?;
        if let (Some(tb), Some(d)) = (&mut self.tensorboard, self.miner.distribution()) {
            tb.histogram("pads/distribution", step, d.support[0], &d.support[1..], &d.probs)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run.progression())
            .with_context(|| format!("cannot write {}", self.run.progression().display()))?;
        writeln!(f, "{}", serde_json::to_string(&record)?)?;
        Ok(())
    }

    fn policy_updates(&self) -> usize {
        self.agent.as_ref().map(|a| a.call_count).unwrap_or(0)
    }

    fn train_epoch(&mut self, epoch0: usize) -> Result<f64> {
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
                bail!("embeddings hold NaN or Inf at epoch {}, iteration {}; the last good checkpoint is {}", epoch0 + 1, it + 1, self.run.last_checkpoint().display());
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
                bail!("loss is {loss_value} (NaN or Inf) at epoch {}, iteration {}; the last good checkpoint is {}", epoch0 + 1, it + 1, self.run.last_checkpoint().display());
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
                            self.run.last_checkpoint().display()
                        )
                    })?;
                }
            }
            bar.set_message(format!("loss {:.4}", loss_value));
            bar.inc(1);
        }
        bar.finish_and_clear();
        for w in self.train_store.take_warnings() {
            tracing::warn!("bad image replaced: {w}");
        }
        Ok(loss_sum / n_batches.max(1) as f64)
    }

    fn metrics_row(&self, epoch: usize, loss: f64, m: &Metrics, lr: f64) -> Vec<String> {
        let beta_mean = self.beta.mean(Kind::Float).double_value(&[]);
        let mut row = vec![epoch.to_string(), if loss.is_nan() { String::new() } else { fmt(loss) }];
        row.extend(m.recall.iter().map(|r| fmt(r.1)));
        row.extend([m.nmi, m.f1, m.map_at_r, m.intra, m.inter].map(fmt));
        row.push(format!("{lr:e}"));
        row.push(fmt(beta_mean));
        row.push(self.policy_updates().to_string());
        row
    }

    pub fn run(mut self, opts: &TrainOptions) -> Result<TrainSummary> {
        let cfg = self.cfg;
        let start = Instant::now();
        crate::util::write_atomic(&self.run.config(), cfg.to_toml().as_bytes())?;
        self.tensorboard = Some(EventWriter::create(&self.run.path("tensorboard"))?);
        let mut table = CsvTable::read(&self.run.metrics_csv()).unwrap_or_default();
        let mut timing = CsvTable::read(&self.run.timing_csv()).unwrap_or_default();
        if !opts.resume {
            table = CsvTable { header: metrics_header(cfg), rows: Vec::new() };
            timing = CsvTable { header: vec!["epoch".into(), "seconds".into()], rows: Vec::new() };
            let _ = std::fs::remove_file(self.run.progression());
        }
        timing.rows.retain(|r| r.first().and_then(|e| e.parse::<usize>().ok()).is_some_and(|e| e <= self.state.epoch));
        if opts.eval_before && self.state.epoch == 0 && self.state.before_metrics.is_none() {
            let t0 = Instant::now();
            let m = self.evaluate_test("test (untrained)")?;
            table.rows.push(self.metrics_row(0, f64::NAN, &m, cfg.lr));
            timing.rows.push(vec!["0".into(), format!("{:.3}", t0.elapsed().as_secs_f64())]);
            self.run.write_table(&self.run.metrics_csv(), &table)?;
            self.state.before_metrics = Some(m);
        }
        for epoch0 in self.state.epoch..cfg.n_epochs {
            let t0 = Instant::now();
            let loss = self.train_epoch(epoch0)?;
            let epoch = epoch0 + 1;
            let evaluate = epoch % cfg.eval_every == 0 || epoch == cfg.n_epochs;
            self.state.epoch = epoch;
            if evaluate {
                let m = self.evaluate_test("test")?;
                let r1 = m.recall1();
                table.rows.push(self.metrics_row(epoch, loss, &m, self.opt_model.lr));
                let mut scalars = m.named();
                scalars.push(("loss".into(), loss));
                self.log_scalars("test", epoch as i64, &scalars)?;
                let beta_mean = self.beta.mean(Kind::Float).double_value(&[]);
                self.log_scalars("train", epoch as i64, &[("loss".into(), loss), ("lr".into(), self.opt_model.lr), ("beta_mean".into(), beta_mean)])?;
                self.state.last_metrics = Some(m.clone());
                if r1 > self.state.best_recall1 {
                    self.state.best_recall1 = r1;
                    self.state.best_epoch = epoch;
                    self.state.best_metrics = Some(m.clone());
                    self.checkpoint()?.save(&self.run.best_checkpoint())?;
                }
                if !opts.quiet {
                    let summary: Vec<String> = m.named().iter().take(4).map(|(n, v)| format!("{n} {v:.4}")).collect();
                    self.progress.line(&format!("epoch {epoch}/{}: loss {loss:.4}, {}", cfg.n_epochs, summary.join(", ")));
                }
            } else {
                table.rows.push(vec![epoch.to_string(), fmt(loss)]);
            }
            timing.rows.push(vec![epoch.to_string(), format!("{:.3}", t0.elapsed().as_secs_f64())]);
            self.run.write_table(&self.run.metrics_csv(), &table)?;
            self.run.write_table(&self.run.timing_csv(), &timing)?;
            self.checkpoint()?.save(&self.run.last_checkpoint())?;
            crate::report::after_epoch(&self.run, cfg)?;
            if opts.stop_after_epoch == Some(epoch) {
                break;
            }
        }
        let last = self.state.last_metrics.clone().context("no evaluation happened")?;
        if self.state.epoch == cfg.n_epochs {
            // Marks a finished run (sweeps skip it) and records its headline numbers.
            let best = self.state.best_metrics.clone().unwrap_or_else(|| last.clone());
            let summary = serde_json::json!({
                "epochs": cfg.n_epochs,
                "best_epoch": self.state.best_epoch,
                "best": best.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
                "last": last.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
                "policy_updates": self.policy_updates(),
            });
            crate::util::write_atomic(&self.run.path("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
        }
        Ok(TrainSummary {
            before: self.state.before_metrics.clone(),
            best: self.state.best_metrics.clone().unwrap_or_else(|| last.clone()),
            last,
            best_epoch: self.state.best_epoch,
            policy_updates: self.policy_updates(),
            iterations_per_epoch: self.sampler.batches_per_epoch(),
            wall_seconds: start.elapsed().as_secs_f64(),
        })
    }
}

pub fn train(cfg: &RunConfig, out: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    Trainer::new(cfg, out, opts)?.run(opts)
}

/// Rebuilds a run's model from its best (else last) checkpoint.
pub fn load_run_model(run: &RunDir, cfg: &RunConfig, device: Device) -> Result<(nn::VarStore, EmbeddingNet)> {
    let path = if run.best_checkpoint().is_file() { run.best_checkpoint() } else { run.last_checkpoint() };
    let ck = Checkpoint::load(&path)?;
    let vs = nn::VarStore::new(device);
    let mut model = EmbeddingNet::new(&vs.root(), cfg.arch, cfg.embed_dim);
    model.amp_bf16 = cfg.amp == crate::config::Amp::Bf16;
    load_into_varstore(&vs, &ck.group("model"), "model")?;
    Ok((vs, model))
}

/// Reads a run folder's config, with an optional new data root.
pub fn run_config(run: &RunDir, data_root: Option<&Path>) -> Result<RunConfig> {
    let mut cfg = RunConfig::from_toml_file(&run.config())?;
    if let Some(root) = data_root {
        cfg.data_root = root.to_path_buf();
    }
    Ok(cfg)
}

/// `pads eval`: embeds the run's test split with its best model and computes every metric.
pub fn evaluate_run(run_dir: &Path, data_root: Option<&Path>, quiet: bool) -> Result<Metrics> {
    let run = RunDir::open(run_dir)?;
    let cfg = run_config(&run, data_root)?;
    let device = crate::device::parse_device(&cfg.device)?;
    let (_vs, model) = load_run_model(&run, &cfg, device)?;
    let splits = load_splits(&cfg)?;
    let test = store(splits.test, &cfg);
    let progress = Progress::new(quiet);
    let (emb, labels) = embed_store(&model, &test, &cfg, device, &progress, "test")?;
    let mut opts = EvalOptions::new(cfg.recall_ks(), cfg.seed);
    opts.kmeans_plusplus = cfg.kmeans_plusplus;
    compute_metrics(&emb, &labels, &opts)
}

/// `pads embed`: writes embeddings.npy, labels.npy and paths.txt of one split.
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
        s => bail!("--split: expected train, val or test, got {s:?}"),
    };
    let paths: Vec<String> = chosen.items.iter().map(|i| i.path.display().to_string()).collect();
    let st = store(chosen, &cfg);
    let progress = Progress::new(quiet);
    let (emb, labels) = embed_store(&model, &st, &cfg, device, &progress, split)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    emb.to_device(Device::Cpu).write_npy(out.join("embeddings.npy"))?;
    Tensor::from_slice(&labels).write_npy(out.join("labels.npy"))?;
    crate::util::write_atomic(&out.join("paths.txt"), (paths.join("\n") + "\n").as_bytes())?;
    Ok(labels.len())
}
