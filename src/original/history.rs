//! The original's logged history in pads' files: the checkpoint's `progress` (auxiliaries'
//! LOGGER keeps one Progress_Saver per sub-logger; each holds `groups`: group -> segment ->
//! {'content': [one value per log call], 'saved_idx'}) as metrics.csv rows, and
//! distr_progression.pkl (`{'progression': [distribution after each policy update], ...}`)
//! as pads_progression.jsonl lines. What the original does not record stays empty (a CSV
//! cell) or null (a JSON field): nothing is filled in.
use crate::model::torchfile::Value;
use crate::policy::agent::PolicyRecord;
use crate::run::{fmt, CsvTable};
use anyhow::{Context, Result};
use std::collections::BTreeMap;

/// sub-logger -> group -> segment -> values, as logged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress(pub BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<f64>>>>);

impl Progress {
    /// Reads the checkpoint's `progress` entry (dict of sub-logger name -> Progress_Saver
    /// object). Errors say which part is not as the original writes it.
    pub fn read(v: &Value) -> Result<Self> {
        let mut out = BTreeMap::new();
        for (name, saver) in v.as_dict().context("'progress'")? {
            let name = name.as_str().context("'progress' key")?.to_string();
            let groups = saver.req("groups").with_context(|| format!("'progress'['{name}']"))?;
            let mut g_out = BTreeMap::new();
            for (group, segments) in groups.as_dict().with_context(|| format!("'progress'['{name}'].groups"))? {
                let group = group.as_str()?.to_string();
                let mut s_out = BTreeMap::new();
                for (segment, entry) in segments.as_dict()? {
                    let segment = segment.as_str()?.to_string();
                    let content = entry.req("content").with_context(|| format!("'progress'['{name}'].groups['{group}']['{segment}']"))?;
                    let values = content.as_list()?.iter().map(|x| x.as_f64()).collect::<Result<Vec<f64>>>()
                        .with_context(|| format!("'progress'['{name}'].groups['{group}']['{segment}'].content"))?;
                    s_out.insert(segment, values);
                }
                g_out.insert(group, s_out);
            }
            out.insert(name, g_out);
        }
        Ok(Progress(out))
    }

    /// The original's own CSV logs (`CSV_Logs/Data_<sub-logger>_<group>.csv`, written by
    /// auxiliaries.CSV_Writer after every epoch: a header of segment names, then one row per
    /// log call), the whole run's history. Sub-loggers are main.py's: Train, Test, Val,
    /// Model Grad, RL-Policy, RL-Policy Grad. Errors name the file and line.
    pub fn from_csv_logs(dir: &std::path::Path) -> Result<Self> {
        const SUB_LOGGERS: [&str; 6] = ["RL-Policy Grad", "RL-Policy", "Model Grad", "Train", "Test", "Val"];
        let mut out: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<f64>>>> = BTreeMap::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_prefix("Data_").and_then(|n| n.strip_suffix(".csv")) else { continue };
            let Some((sub, group)) = SUB_LOGGERS.iter().find_map(|s| stem.strip_prefix(s).and_then(|g| g.strip_prefix('_')).map(|g| (*s, g))) else { continue };
            let path = entry.path();
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            if text.trim().is_empty() {
                anyhow::bail!("{} is empty: expected a header of value names, then one row per log call", path.display());
            }
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
            let mut columns: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
            for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
                let cells: Vec<&str> = line.split(',').collect();
                if cells.len() != header.len() {
                    anyhow::bail!("{} line {}: {} values, the header names {}", path.display(), n + 2, cells.len(), header.len());
                }
                for (c, cell) in cells.iter().enumerate() {
                    let v = cell.trim().parse::<f64>().with_context(|| format!("{} line {}: {cell:?} is not a number", path.display(), n + 2))?;
                    columns[c].push(v);
                }
            }
            let segments = out.entry(sub.to_string()).or_default().entry(group.to_string()).or_default();
            for (h, col) in header.iter().zip(columns) {
                segments.insert(h.to_string(), col);
            }
        }
        // One row per epoch in every per-epoch file: a cut file would leave cells empty.
        for (sub, per_epoch) in [("Test", "Epochs"), ("Train", "epochs")] {
            let Some(groups) = out.get(sub) else { continue };
            let Some(n) = groups.get(per_epoch).and_then(|g| g.get(per_epoch)).map(Vec::len) else { continue };
            for (group, segments) in groups {
                for (segment, values) in segments {
                    if values.len() != n {
                        anyhow::bail!(
                            "{}: Data_{sub}_{group}.csv holds {} row(s) of '{segment}', Data_{sub}_{per_epoch}.csv {n} epoch(s): the file was cut or is not the original's",
                            dir.display(),
                            values.len()
                        );
                    }
                }
            }
        }
        Ok(Progress(out))
    }

    /// The values of `sub_logger` / `group` / `segment`, if logged.
    pub fn values(&self, sub_logger: &str, group: &str, segment: &str) -> Option<&[f64]> {
        self.0.get(sub_logger)?.get(group)?.get(segment).map(Vec::as_slice)
    }

    /// The epoch (0-based) the checkpoint holding this history was saved at: the last one
    /// trained. evaluate.py saves the checkpoint before it logs that epoch's test metrics,
    /// so the test history ends one epoch earlier.
    pub fn checkpoint_epoch(&self) -> Option<usize> {
        self.values("Train", "epochs", "epochs")?.last().map(|e| *e as usize)
    }

    /// metrics.csv under `header` (run::log::metrics_header of the imported config): one row
    /// per epoch with test metrics (pads counts epochs from 1, the original from 0; none when
    /// the checkpoint is from the first evaluation). Filled from the
    /// original's records: loss (Train), recall@k / nmi / f1 / intra / inter (Test),
    /// grad_l2 / grad_max (Model Grad); every other cell is empty (the original does not
    /// record it per epoch: map@r, lr, beta_mean, policy_updates, the policy's gradients).
    pub fn metrics_table(&self, header: Vec<String>) -> Result<CsvTable> {
        let epochs = self.values("Test", "Epochs", "Epochs").unwrap_or(&[]);
        let train_epochs = self.values("Train", "epochs", "epochs").unwrap_or(&[]);
        let by_train_epoch = |segment: (&str, &str, &str), epoch: f64| -> Option<f64> {
            let at = train_epochs.iter().position(|e| *e == epoch)?;
            self.values(segment.0, segment.1, segment.2)?.get(at).copied()
        };
        let mut rows = Vec::new();
        for (i, &epoch) in epochs.iter().enumerate() {
            let test = |group: &str, segment: &str| self.values("Test", group, segment).and_then(|v| v.get(i)).copied();
            let cell = |name: &str| -> Option<f64> {
                if let Some(k) = name.strip_prefix("recall@") {
                    return test("Class_Recall", &format!("Recall @ {k}"));
                }
                match name {
                    "epoch" => Some(epoch + 1.0),
                    "loss" => by_train_epoch(("Train", "loss", "loss"), epoch),
                    "nmi" => test("Class_NMI", "NMI"),
                    "f1" => test("Class_F1", "F1"),
                    "intra" => test("Class_Distances", "Intraclass"),
                    "inter" => test("Class_Distances", "Interclass"),
                    "grad_l2" => by_train_epoch(("Model Grad", "L2", "Grad L2"), epoch),
                    "grad_max" => by_train_epoch(("Model Grad", "Max", "Grad Max"), epoch),
                    _ => None,
                }
            };
            rows.push(
                header
                    .iter()
                    .map(|h| match (h.as_str(), cell(h)) {
                        ("epoch", Some(e)) => format!("{}", e as usize),
                        (_, Some(v)) if v.is_finite() => fmt(v),
                        _ => String::new(),
                    })
                    .collect(),
            );
        }
        Ok(CsvTable { header, rows })
    }
}

/// distr_progression.pkl's distributions as progression records: the distribution after
/// each policy update, in order; the step's call number; nothing else (the file holds no
/// epoch, iteration, reward or actions). Errors: no 'progression' list of numeric arrays.
pub fn progression_records(root: &Value) -> Result<Vec<PolicyRecord>> {
    let list = root.req("progression")?.as_list().context("'progression'")?;
    list.iter()
        .enumerate()
        .map(|(call, d)| {
            let probs = match d {
                Value::Array(a) => a.to_f64()?,
                other => other.as_list()?.iter().map(|x| x.as_f64()).collect::<Result<Vec<_>>>()?,
            };
            Ok(PolicyRecord {
                call,
                epoch: None,
                iteration: None,
                reward_metric: None,
                reward: None,
                advantage: None,
                policy_loss: None,
                value_loss: None,
                actions: Vec::new(),
                distribution: probs,
                val_metrics: Vec::new(),
                sub_rewards: Vec::new(),
                grad_norms: None,
            })
        })
        .collect::<Result<Vec<_>>>()
        .context("'progression'")
}
