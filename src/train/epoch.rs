//! One training epoch, the PADS policy steps inside it, and the evaluations of a run (test
//! split, validation split, retrieval.png).
use super::{lr_factor, Trainer};
use crate::data::loader::spawn_loader;
use crate::data::scan::{write_records, SkipRecord};
use crate::data::transform::{Mode, Transform};
use crate::eval::picks::retrieval_picks;
use crate::eval::Metrics;
use crate::model::embed::{embed_store, EmbedOptions};
use crate::options::{SelectOn, StateMetric};
use crate::policy::observe::{is_sub_collect, svd_metric, Observation, Observed};
use crate::progress::{fmt_duration, RunProgress};
use crate::run::log::metrics_row;
use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

impl Trainer<'_> {
    /// Test metrics of the current network (query -> gallery for in_shop), and retrieval.png.
    pub(super) fn evaluate_test(&self, what: &str) -> Result<Metrics> {
        let (emb, labels) = embed_store(&self.model, &self.test_store, &EmbedOptions::from(self.cfg), self.device, &self.progress, what)?;
        let (m, warnings) = crate::eval::evaluate_split(&emb, &labels, self.test_is_query.as_deref(), &self.cfg.eval_options())?;
        // Training warns about degenerate splits once, before the first epoch (check.rs).
        for w in &warnings {
            tracing::debug!("{w}");
        }
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
        let (m, named, _) = self.observe_split(false)?;
        Ok((m, named))
    }

    /// The state metrics of the validation split (`train` false) or of the training split
    /// (embedded as evaluation images, as the original's `evaluation` loader): metrics,
    /// their named values, and the `svd` state metric when it is one (else NaN).
    fn observe_split(&self, train: bool) -> Result<(Metrics, Vec<(String, f64)>, f64)> {
        let (store, what) = if train {
            (&self.train_store, "training split (state metrics)")
        } else {
            (self.val_store.as_ref().context("no validation split (--train-val-split is 1)")?, "validation")
        };
        let (emb, labels) = embed_store(&self.model, store, &EmbedOptions::from(self.cfg), self.device, &self.progress, what)?;
        let mut opts = self.cfg.eval_options();
        let m = crate::policy::agent::validation_metrics(&emb, &labels, opts.clone())?;
        opts.with_map = false; // as validation_metrics computes them: no mAP@R
        let named = m.named_for(&opts);
        let svd = if self.cfg.policy_state_metrics.contains(&StateMetric::Svd) { svd_metric(&emb)? } else { f64::NAN };
        Ok((m, named, svd))
    }

    fn policy_step(&mut self, epoch: usize, progress: f64) -> Result<()> {
        let (val, named, val_svd) = self.observe_split(false)?;
        let step = self.state.global_iter as i64;
        let train = if self.cfg.policy_include_train_metrics {
            let (m, named_train, svd) = self.observe_split(true)?;
            self.log.scalars("train_split", step, &named_train)?;
            Some(Observed { metrics: m, svd })
        } else {
            None
        };
        let obs = Observation { val: Observed { metrics: val, svd: val_svd }, train };
        let agent = self.agent.as_mut().expect("agent");
        let dist = self.miner.distribution_mut().expect("PADS miner");
        let mut record = agent.step_observed(&obs, dist, progress, epoch, self.state.global_iter, None)?;
        record.val_metrics = named.clone();
        if let Some(g) = record.grad_norms {
            self.epoch_policy_grads.push(g);
        }
        self.log.policy_step(step, &named, &record, self.miner.distribution())
    }

    /// A sub-episode reward collection (`--policy-sup-metric-collect`): the validation
    /// reward metric now, for the period's next policy step.
    fn collect_sub_reward(&mut self) -> Result<()> {
        let (val, _) = self.validate()?;
        self.agent.as_mut().expect("agent").collect_sub_reward(&val);
        Ok(())
    }

    /// Trains 0-based epoch `epoch0`; returns its mean loss and the means of the network's
    /// gradient numbers (`run::log::EpochGrads`; summed on the device, read once). Errors: non-finite embeddings
    /// or loss, a batch without a valid triplet, a failed policy step (each names the last
    /// good checkpoint).
    pub(super) fn train_epoch(&mut self, epoch0: usize, clock: &mut RunProgress) -> Result<(f64, (f64, f64))> {
        let cfg = self.cfg;
        let factor = lr_factor(cfg, epoch0);
        self.opt_model.lr = cfg.lr * factor;
        self.objective.set_lr_factor(factor);
        let batches = self.sampler.epoch(cfg.seed, epoch0);
        let n_batches = batches.len();
        let total_iters = (cfg.n_epochs * n_batches).max(1);
        let loader = spawn_loader(
            self.train_store.clone(),
            batches,
            Transform::new(cfg.image_size, Mode::Train).with_normalization(self.model.input_normalization()),
            crate::util::mix(cfg.seed, 0x10AD, epoch0 as u64),
            cfg.num_workers,
            3,
        );
        let bar = self.progress.bar(n_batches as u64, &format!("epoch {}/{}", epoch0 + 1, cfg.n_epochs));
        let mut loss_sum = 0.0;
        let vars = self.model_vs.trainable_variables();
        let mut grad_sums: Option<(Tensor, Tensor)> = None;
        let mut grad_iters = 0usize;
        for (it, batch) in loader.enumerate() {
            let batch = batch?;
            // The original's model.train(): BN-Inception's BatchNorm on batch statistics.
            let emb = self.model.forward_t(&batch.images.to_device(self.device), true);
            if !bool::try_from(emb.isfinite().all())? {
                bail!("embeddings hold NaN or Inf at epoch {}, iteration {}; {}", epoch0 + 1, it + 1, self.last_good_checkpoint());
            }
            let triplets = self.miner.mine(&emb, &batch.labels, &mut self.state.miner_rng);
            if triplets.is_empty() {
                bail!("the batch at epoch {}, iteration {} holds no valid triplet (needs two classes with two images each)", epoch0 + 1, it + 1);
            }
            let loss = self.objective.loss(&emb, &triplets, &batch.labels);
            let loss_value = loss.double_value(&[]);
            if !loss_value.is_finite() {
                bail!("loss is {loss_value} (NaN or Inf) at epoch {}, iteration {}; {}", epoch0 + 1, it + 1, self.last_good_checkpoint());
            }
            self.opt_model.zero_grad();
            self.objective.zero_grad();
            loss.backward();
            if let Some((l2, max)) = crate::ops::grad_norms(&vars) {
                grad_sums = Some(match grad_sums.take() {
                    None => (l2, max),
                    Some((a, b)) => (a + l2, b + max),
                });
                grad_iters += 1;
            }
            self.opt_model.step();
            self.objective.step();
            loss_sum += loss_value;
            self.state.global_iter += 1;
            if self.agent.is_some() && epoch0 >= cfg.policy_training_delay {
                self.state.policy_counter += 1;
                let sub = cfg.policy_sup_metric_collect.max(0) as usize;
                if is_sub_collect(self.state.policy_counter, cfg.policy_sample_freq, sub) {
                    self.collect_sub_reward().with_context(|| format!("PADS sub-episode reward at epoch {}, iteration {} failed", epoch0 + 1, it + 1))?;
                }
                if crate::policy::is_policy_step(self.state.policy_counter, cfg.policy_sample_freq) {
                    let progress = self.state.global_iter as f64 / total_iters as f64;
                    self.policy_step(epoch0 + 1, progress).with_context(|| {
                        format!(
                            "PADS policy step at epoch {}, iteration {} failed; {}",
                            epoch0 + 1,
                            it + 1,
                            self.last_good_checkpoint()
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
        self.record_replaced_images()?;
        let grads = match grad_sums {
            Some((l2, max)) => (l2.double_value(&[]) / grad_iters as f64, max.double_value(&[]) / grad_iters as f64),
            None => (f64::NAN, f64::NAN),
        };
        Ok((loss_sum / n_batches.max(1) as f64, grads))
    }

    /// Where a stopped run can continue from: "the last good checkpoint is PATH", or that
    /// none exists yet (a failure in the first epoch leaves nothing to resume).
    fn last_good_checkpoint(&self) -> String {
        let path = self.log.run.last_checkpoint();
        if path.is_file() {
            format!("the last good checkpoint is {}", path.display())
        } else {
            format!("no checkpoint was written yet (it is written after each epoch), so there is nothing to resume: start again with --overwrite --out {}", self.log.run.root.display())
        }
    }

    /// Training images that failed to load this epoch (replaced by another image of their
    /// class, with --skip-bad-images): warned once and added to skipped_images.csv.
    fn record_replaced_images(&mut self) -> Result<()> {
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
        Ok(())
    }

    pub(super) fn metrics_row(&self, epoch: usize, loss: f64, m: &Metrics, lr: f64, val_recall1: Option<f64>) -> Vec<String> {
        metrics_row(epoch, loss, m, lr, self.objective.beta_mean(), self.policy_updates(), val_recall1)
    }

    /// Validation Recall@1 when the best checkpoint is chosen on it (`--select-on val`).
    pub(super) fn selection_recall1(&self) -> Result<Option<f64>> {
        if self.cfg.select_on != SelectOn::Val {
            return Ok(None);
        }
        Ok(Some(self.validate()?.0.recall1()))
    }
}
