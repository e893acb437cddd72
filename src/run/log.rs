//! The run log: everything a training run writes into its folder besides checkpoints, behind
//! one type, so the trainer only says what happened. metrics.csv (one deterministic row per
//! epoch), timing.csv (wall times), pads_progression.jsonl (one line per policy step),
//! TensorBoard events and summary.json. (The plots and report.html are report/'s.)
use super::{fmt, CsvTable, RunDir};
use crate::config::RunConfig;
use crate::options::SelectOn;
use crate::eval::Metrics;
use crate::policy::agent::PolicyRecord;
use crate::miners::distribution::Distribution;
use super::tensorboard::EventWriter;
use anyhow::{Context, Result};
use std::io::Write;

/// The header of metrics.csv: epoch, training loss (mean over the epoch), every test
/// metric, learning rate, mean beta, the number of PADS policy updates so far, with
/// `--select-on val` the validation Recall@1 the best checkpoint is chosen on, then the
/// gradient numbers (`EpochGrads`; the policy's only in PADS runs).
pub fn metrics_header(cfg: &RunConfig) -> Vec<String> {
    let mut h = vec!["epoch".to_string(), "loss".to_string()];
    h.extend(cfg.recall_ks().iter().map(|k| format!("recall@{k}")));
    h.extend(["nmi", "f1", "map@r", "intra", "inter", "lr", "beta_mean", "policy_updates"].map(String::from));
    if cfg.select_on == SelectOn::Val {
        h.push(SelectOn::Val.column().to_string());
    }
    h.extend(["grad_l2", "grad_max"].map(String::from));
    if cfg.sampling == crate::options::Sampling::Pads {
        h.extend(["policy_grad_l2", "policy_grad_max"].map(String::from));
    }
    h
}

/// An epoch's gradient numbers, as the original logs them: per training iteration, over every
/// element g of the network's gradients, L2 = sqrt(mean g^2) and max = max |g|, averaged over
/// the epoch's iterations (`grad_l2`, `grad_max`); the same two numbers of each policy
/// update, averaged over the epoch's updates (`policy_grad_l2`, `policy_grad_max`). NaN =
/// undefined (an epoch without a policy update; the untrained row): an empty cell, no scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochGrads {
    pub l2: f64,
    pub max: f64,
    pub policy_l2: f64,
    pub policy_max: f64,
}

impl EpochGrads {
    pub fn undefined() -> Self {
        EpochGrads { l2: f64::NAN, max: f64::NAN, policy_l2: f64::NAN, policy_max: f64::NAN }
    }

    /// From the network's epoch means and the policy updates' (L2, max) pairs.
    pub fn new(model: (f64, f64), policy: &[(f64, f64)]) -> Self {
        let mean = |f: fn(&(f64, f64)) -> f64| if policy.is_empty() { f64::NAN } else { policy.iter().map(f).sum::<f64>() / policy.len() as f64 };
        EpochGrads { l2: model.0, max: model.1, policy_l2: mean(|p| p.0), policy_max: mean(|p| p.1) }
    }

    /// TensorBoard `train/grad_l2`, `train/grad_max` (the defined ones).
    pub fn model_scalars(&self) -> Vec<(String, f64)> {
        [("grad_l2", self.l2), ("grad_max", self.max)].into_iter().filter(|(_, v)| v.is_finite()).map(|(n, v)| (n.to_string(), v)).collect()
    }

    /// TensorBoard `pads/policy_grad_l2`, `pads/policy_grad_max` (the defined ones).
    pub fn policy_scalars(&self) -> Vec<(String, f64)> {
        [("policy_grad_l2", self.policy_l2), ("policy_grad_max", self.policy_max)]
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(n, v)| (n.to_string(), v))
            .collect()
    }
}

/// The gradient cells of a metrics.csv row (`metrics_header`'s last columns; NaN -> empty).
pub fn grad_cells(g: &EpochGrads, with_policy: bool) -> Vec<String> {
    let cell = |v: f64| if v.is_finite() { fmt(v) } else { String::new() };
    let mut row = vec![cell(g.l2), cell(g.max)];
    if with_policy {
        row.extend([cell(g.policy_l2), cell(g.policy_max)]);
    }
    row
}

/// One evaluated row of metrics.csv (`loss` NaN -> empty cell, for the untrained row;
/// `val_recall1` only with `--select-on val`).
pub fn metrics_row(epoch: usize, loss: f64, m: &Metrics, lr: f64, beta_mean: f64, policy_updates: usize, val_recall1: Option<f64>) -> Vec<String> {
    let mut row = vec![epoch.to_string(), if loss.is_nan() { String::new() } else { fmt(loss) }];
    row.extend(m.recall.iter().map(|r| fmt(r.1)));
    row.extend([m.nmi, m.f1, m.map_at_r, m.intra, m.inter].map(fmt));
    row.push(format!("{lr:e}"));
    row.push(fmt(beta_mean));
    row.push(policy_updates.to_string());
    if let Some(v) = val_recall1 {
        row.push(fmt(v));
    }
    row
}

/// The metrics.csv row of an epoch without a test evaluation (`--eval-every` > 1): epoch and
/// loss, an empty cell for each of the `n_ks` Recall@k and the five other test metrics (and
/// the validation Recall@1 with `with_val`), then lr, beta_mean and policy_updates, so every
/// row has the header's width.
pub fn unevaluated_row(epoch: usize, loss: f64, n_ks: usize, lr: f64, beta_mean: f64, policy_updates: usize, with_val: bool) -> Vec<String> {
    let mut row = vec![epoch.to_string(), fmt(loss)];
    row.extend(std::iter::repeat_n(String::new(), n_ks + 5));
    row.push(format!("{lr:e}"));
    row.push(fmt(beta_mean));
    row.push(policy_updates.to_string());
    if with_val {
        row.push(String::new());
    }
    row
}

/// The row of metrics.csv that checkpoint_best holds under `rule`: the first trained epoch
/// (epoch 0, the untrained network, never counts) with the highest value in the rule's
/// column, as the trainer chooses it (a later tie does not replace it). None when no row
/// has that column filled.
pub fn best_row(table: &CsvTable, rule: SelectOn) -> Option<usize> {
    let col = table.header.iter().position(|h| h == rule.column())?;
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in table.rows.iter().enumerate() {
        if epoch_of(r).is_none_or(|e| e == 0) {
            continue;
        }
        let Some(v) = r.get(col).and_then(|v| v.parse::<f64>().ok()) else { continue };
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|b| b.0)
}

/// The last evaluated trained epoch's row of metrics.csv (test metrics filled).
pub fn final_row(table: &CsvTable) -> Option<usize> {
    let col = table.header.iter().position(|h| h == "recall@1")?;
    table.rows.iter().rposition(|r| epoch_of(r).is_some_and(|e| e > 0) && r.get(col).is_some_and(|v| !v.is_empty()))
}

/// TensorBoard text of a config: TOML as a Markdown code block (indented four spaces).
fn config_markdown(cfg: &RunConfig) -> String {
    cfg.to_toml().lines().map(|l| format!("    {l}\n")).collect()
}

fn epoch_of(row: &[String]) -> Option<usize> {
    row.first().and_then(|e| e.parse::<usize>().ok())
}

/// A run folder's logs, open for writing.
pub struct RunLog {
    pub run: RunDir,
    cfg: RunConfig,
    metrics: CsvTable,
    timing: CsvTable,
    tensorboard: Option<EventWriter>,
}

impl RunLog {
    /// The logs of `run` for a run with `cfg`; nothing is written until `start`.
    pub fn new(run: RunDir, cfg: &RunConfig) -> Self {
        RunLog { run, cfg: cfg.clone(), metrics: CsvTable::default(), timing: CsvTable::default(), tensorboard: None }
    }

    /// After restoring a checkpoint of `epoch` epochs and `policy_calls` policy steps: drops
    /// the metrics.csv rows and pads_progression.jsonl lines the checkpoint has not seen (a
    /// run killed mid-epoch logged beyond its last checkpoint).
    pub fn truncate_to(&self, epoch: usize, policy_calls: usize) -> Result<()> {
        if let Ok(mut table) = CsvTable::read(&self.run.metrics_csv()) {
            table.rows.retain(|r| epoch_of(r).is_some_and(|e| e <= epoch));
            self.run.write_table(&self.run.metrics_csv(), &table)?;
        }
        if let Ok(text) = std::fs::read_to_string(self.run.progression()) {
            let kept: String = text
                .lines()
                .filter(|l| serde_json::from_str::<PolicyRecord>(l).is_ok_and(|r| r.call < policy_calls))
                .map(|l| format!("{l}\n"))
                .collect();
            crate::util::write_atomic(&self.run.progression(), kept.as_bytes())?;
        }
        Ok(())
    }

    /// Starts writing: config.toml, the TensorBoard file (on resume a session restart at
    /// global iteration `step`; the config as a text summary `config` at `step`), and the tables (continued from the folder's
    /// files up to `epoch` on resume, else new).
    pub fn start(&mut self, resume: bool, epoch: usize, step: i64) -> Result<()> {
        // The weights the run starts from, as a comment: config.toml stays a RunConfig that
        // pads reads back (and `--resume` compares) unchanged.
        let text = format!("{}\n# pretrained_weights: {}\n", self.cfg.to_toml().trim_end(), pretrained_weights(&self.cfg));
        crate::util::write_atomic(&self.run.config(), text.as_bytes())?;
        let mut tb = EventWriter::create(&self.run.path("tensorboard"))?;
        if resume {
            tb.session_start(step)?;
        }
        tb.text("config", step, &config_markdown(&self.cfg))?;
        tb.flush()?;
        self.tensorboard = Some(tb);
        if resume {
            self.metrics = CsvTable::read(&self.run.metrics_csv()).unwrap_or_default();
            // A timing.csv that is gone or empty starts again with its header (its earlier
            // rows are lost, as the resume check says).
            self.timing = CsvTable::read(&self.run.timing_csv())
                .ok()
                .filter(|t| !t.header.is_empty())
                .unwrap_or_else(|| CsvTable { header: vec!["epoch".into(), "seconds".into()], rows: Vec::new() });
        } else {
            self.metrics = CsvTable { header: metrics_header(&self.cfg), rows: Vec::new() };
            self.timing = CsvTable { header: vec!["epoch".into(), "seconds".into()], rows: Vec::new() };
            let _ = std::fs::remove_file(self.run.progression());
        }
        self.timing.rows.retain(|r| epoch_of(r).is_some_and(|e| e <= epoch));
        Ok(())
    }

    /// Appends one epoch's metrics.csv row and wall time (seconds) and rewrites both files.
    pub fn push_epoch(&mut self, epoch: usize, row: Vec<String>, seconds: f64) -> Result<()> {
        self.metrics.rows.push(row);
        self.timing.rows.push(vec![epoch.to_string(), format!("{seconds:.3}")]);
        self.run.write_table(&self.run.metrics_csv(), &self.metrics)?;
        self.run.write_table(&self.run.timing_csv(), &self.timing)
    }

    /// TensorBoard scalars `<prefix>/<name>` at `step`.
    pub fn scalars(&mut self, prefix: &str, step: i64, values: &[(String, f64)]) -> Result<()> {
        if let Some(tb) = &mut self.tensorboard {
            for (name, v) in values {
                tb.scalar(&format!("{prefix}/{name}"), step, *v)?;
            }
            tb.flush()?;
        }
        Ok(())
    }

    /// One PADS policy step: its validation metrics, reward and losses as scalars, the
    /// distribution as a histogram (all at `step`), and a line of pads_progression.jsonl.
    pub fn policy_step(&mut self, step: i64, val: &[(String, f64)], record: &PolicyRecord, dist: Option<&Distribution>) -> Result<()> {
        let mut scalars = val.to_vec();
        if let Some(m) = record.reward_metric {
            scalars.push(("reward_metric".into(), m));
        }
        self.scalars("val", step, &scalars)?;
        let mut pads_scalars = Vec::new();
        for (name, v) in [("reward", record.reward), ("advantage", record.advantage), ("policy_loss", record.policy_loss), ("value_loss", record.value_loss)] {
            if let Some(v) = v {
                pads_scalars.push((name.to_string(), v));
            }
        }
        self.scalars("pads", step, &pads_scalars)?;
        if let (Some(tb), Some(d)) = (&mut self.tensorboard, dist) {
            tb.histogram("pads/distribution", step, d.support[0], &d.support[1..], &d.probs)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run.progression())
            .with_context(|| format!("cannot write {}", self.run.progression().display()))?;
        writeln!(f, "{}", serde_json::to_string(record)?)?;
        Ok(())
    }

    /// summary.json: marks a finished run (sweeps skip it) with its headline numbers: the
    /// test metrics of the best epoch (chosen by `best_rule`) and of the last one.
    /// `skipped_images`: counts of images not used as they are (layout skips, training
    /// replacements, evaluation drops; `data::scan`).
    pub fn finish(&self, best_epoch: usize, best: &Metrics, last_epoch: usize, last: &Metrics, policy_updates: usize, skipped_images: serde_json::Value) -> Result<()> {
        let obj = |m: &Metrics| m.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect::<serde_json::Map<String, serde_json::Value>>();
        let summary = serde_json::json!({
            "epochs": self.cfg.n_epochs,
            "best_epoch": best_epoch,
            "best_rule": self.cfg.select_on.rule(),
            "best": obj(best),
            "last_epoch": last_epoch,
            "last": obj(last),
            "policy_updates": policy_updates,
            "skipped_images": skipped_images,
        });
        crate::util::write_atomic(&self.run.path("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())
    }
}

/// Which weights a run starts from: the `--pretrained` file recognised by content
/// (`model::weights::describe`: its published name, or `unrecognised (sha256 ...)`) and
/// its path, or random initialisation.
pub fn pretrained_weights(cfg: &RunConfig) -> String {
    match &cfg.pretrained {
        Some(p) => format!("{} at {}", crate::model::weights::describe(p), p.display()),
        None => format!("random initialisation ({} {})", crate::options::opt("arch"), cfg.arch.as_str()),
    }
}
