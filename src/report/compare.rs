//! `pads compare RUN... --out DIR`: did PADS help? One self-contained HTML page
//! (compare.html, every plot inlined) and the same table as compare.md / compare.csv, for
//! runs trained on the same data. The page holds, in order: the runs and their data; best
//! and final rows side by side with each run's checkpoint rule; the test metric curves and
//! the training loss of all runs overlaid; per PADS run its sampling-distribution heatmap and
//! its reward, validation metric and policy loss per policy update; the options that differ.
use super::{html::escape, plots, read_progression};
use crate::config::RunConfig;
use crate::policy::agent::PolicyRecord;
use crate::run::log::{best_row, final_row};
use crate::run::{CsvTable, RunDir};
use anyhow::{bail, Context, Result};
use base64::Engine;
use std::path::{Path, PathBuf};

/// One run as the comparison reads it.
pub struct ComparedRun {
    pub name: String,
    pub dir: PathBuf,
    pub cfg: RunConfig,
    pub table: CsvTable,
    pub progression: Vec<PolicyRecord>,
}

/// What `compare_runs` wrote, and the table as aligned text for the terminal.
pub struct CompareOutput {
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub csv: PathBuf,
    pub text_table: String,
    /// Differences that do not prevent the comparison but change its meaning.
    pub warnings: Vec<String>,
}

/// The metric columns shown in the tables (metrics.csv names).
fn shown_metrics(runs: &[ComparedRun]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in runs {
        for h in &r.table.header {
            let metric = h.starts_with("recall@") || ["nmi", "f1", "map@r"].contains(&h.as_str());
            if metric && !names.contains(h) {
                names.push(h.clone());
            }
        }
    }
    names
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The settings that decide which test images a run is scored on: these must agree.
fn test_data_key(cfg: &RunConfig) -> Vec<(&'static str, String)> {
    let mut k = vec![("dataset", cfg.dataset.as_str().to_string()), ("data_root", canonical(&cfg.data_root).display().to_string())];
    if cfg.dataset == crate::options::DatasetKind::Folder {
        k.push(("test_root", cfg.test_root.as_deref().map(|p| canonical(p).display().to_string()).unwrap_or_default()));
        k.push(("folder_test_share", cfg.folder_test_share.to_string()));
    }
    k
}

/// What part of the training classes a run trained on: every image, or the share left by its
/// validation split (only runs that take one, `data::takes_val_split`).
fn training_share(cfg: &RunConfig) -> String {
    if !crate::config::takes_val_split(cfg) {
        return "every training image".to_string();
    }
    format!(
        "{} of the training {}, {} held out for validation",
        cfg.train_val_split,
        if cfg.train_val_split_by_class { "classes" } else { "images of each class" },
        if cfg.val_split_random { "a random share" } else { "the original's share" }
    )
}

/// Reads the runs and checks they can be compared: the same test data (else an error naming
/// both runs and the differing setting); other differences in what was trained on or how
/// it was scored become warnings.
pub fn read_runs(dirs: &[PathBuf]) -> Result<(Vec<ComparedRun>, Vec<String>)> {
    if dirs.is_empty() {
        bail!("pads compare needs at least one run folder");
    }
    let mut runs: Vec<ComparedRun> = Vec::new();
    for dir in dirs {
        let run = RunDir::open(dir)?;
        let cfg = RunConfig::from_toml_file(&run.config())?;
        let table = CsvTable::read(&run.metrics_csv()).with_context(|| format!("{} has no metrics yet", dir.display()))?;
        let progression = read_progression(&run);
        let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
        let name = if runs.iter().any(|r| r.name == base) { dir.display().to_string() } else { base };
        runs.push(ComparedRun { name, dir: dir.clone(), cfg, table, progression });
    }
    let mut warnings = Vec::new();
    for r in &runs {
        let evaluated = r.table.column("recall@1").map_or(0, |c| c.iter().filter(|v| v.is_finite()).count());
        if evaluated == 0 {
            let imported = crate::run::folder::imported_run(&r.dir);
            warnings.push(format!(
                "{} has no evaluated epoch in its metrics.csv{}: it has no row in the table",
                r.name,
                if imported { " (imported from the original code without its CSV_Logs; `pads eval --run` gives its checkpoint's metrics)" } else { "" }
            ));
        }
    }
    let first = &runs[0];
    for r in &runs[1..] {
        for ((key, a), (_, b)) in test_data_key(&first.cfg).into_iter().zip(test_data_key(&r.cfg)) {
            if a != b {
                bail!(
                    "runs {} and {} were tested on different data ({key}: {a} vs {b}); pads compare only compares runs on the same test split",
                    first.dir.display(),
                    r.dir.display()
                );
            }
        }
        let (a, b) = (training_share(&first.cfg), training_share(&r.cfg));
        if a != b {
            warnings.push(format!("{} and {} trained on different images ({a} vs {b})", first.name, r.name));
        }
        for (what, x, y) in [
            ("lone queries in Recall@k (skip_lone_queries)", first.cfg.skip_lone_queries, r.cfg.skip_lone_queries),
            ("k-means seeding for NMI and F1 (kmeans_plusplus)", first.cfg.kmeans_plusplus, r.cfg.kmeans_plusplus),
        ] {
            if x != y {
                warnings.push(format!("{} and {} score by different rules: {what} {x} vs {y}", first.name, r.name));
            }
        }
        if first.cfg.recall_ks() != r.cfg.recall_ks() {
            warnings.push(format!("{} and {} report different Recall@k (k = {:?} vs {:?})", first.name, r.name, first.cfg.recall_ks(), r.cfg.recall_ks()));
        }
        if first.cfg.select_on != r.cfg.select_on {
            warnings.push(format!(
                "{} and {} choose their best checkpoint by different rules ({} vs {})",
                first.name,
                r.name,
                first.cfg.select_on.rule(),
                r.cfg.select_on.rule()
            ));
        }
    }
    Ok((runs, warnings))
}

/// The table rows: per run its best row then its final row. Each row: run, sampling,
/// checkpoint (`best` / `final`), epoch, rule, then the metrics of `names` (empty when the
/// run lacks one).
pub fn table_rows(runs: &[ComparedRun], names: &[String]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for r in runs {
        let sampling = r.cfg.sampling.as_str().to_string();
        let picks = [
            ("best", best_row(&r.table, r.cfg.select_on), format!("{} (checkpoint_best)", r.cfg.select_on.rule())),
            ("final", final_row(&r.table), "last evaluated epoch (checkpoint_last)".to_string()),
        ];
        for (label, idx, rule) in picks {
            let Some(i) = idx else { continue };
            let row = &r.table.rows[i];
            let mut out = vec![r.name.clone(), sampling.clone(), label.to_string(), row[0].clone(), rule];
            for n in names {
                let v = r.table.header.iter().position(|h| h == n).and_then(|c| row.get(c)).and_then(|v| v.parse::<f64>().ok());
                out.push(v.map(|v| format!("{v:.4}")).unwrap_or_default());
            }
            rows.push(out);
        }
    }
    rows
}

fn markdown(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}

fn html_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table><tr>");
    for c in header {
        h.push_str(&format!("<th>{}</th>", escape(c)));
    }
    h.push_str("</tr>");
    for r in rows {
        h.push_str("<tr>");
        for v in r {
            h.push_str(&format!("<td>{}</td>", escape(v)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

fn file_stem(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

fn img(path: &Path, caption: &str) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let alt = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(format!("<figure><img alt=\"{}\" src=\"data:image/png;base64,{b64}\"><figcaption>{}</figcaption></figure>", escape(&alt), escape(caption)))
}

/// Options whose values differ between the runs: (option, value per run).
fn config_differences(runs: &[ComparedRun]) -> Vec<(String, Vec<String>)> {
    let tables: Vec<toml::Table> = runs.iter().filter_map(|r| toml::Table::try_from(&r.cfg).ok()).collect();
    let Some(first) = tables.first() else { return Vec::new() };
    let mut out = Vec::new();
    for key in first.keys() {
        let vals: Vec<String> = tables.iter().map(|t| t.get(key).map(|v| v.to_string()).unwrap_or_default()).collect();
        if vals.iter().any(|v| v != &vals[0]) {
            out.push((key.clone(), vals));
        }
    }
    out
}

/// Writes compare.html, compare.md, compare.csv and the PNGs they show into `out`, for the
/// run folders `dirs` (at least one; all on the same test data, see `read_runs`).
pub fn compare_runs(dirs: &[PathBuf], out: &Path) -> Result<CompareOutput> {
    for (i, d) in dirs.iter().enumerate() {
        if let Some(e) = dirs[..i].iter().find(|e| crate::eval::query_gallery::same_file(d, e)) {
            bail!("run {} is given twice (as {} and {}): pads compare needs different runs", d.display(), e.display(), d.display());
        }
    }
    let (runs, warnings) = read_runs(dirs)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let names = shown_metrics(&runs);
    let mut header: Vec<String> = ["run", "sampling", "checkpoint", "epoch", "chosen by"].map(String::from).to_vec();
    header.extend(names.iter().cloned());
    let rows = table_rows(&runs, &names);
    let csv = CsvTable { header: header.clone(), rows: rows.iter().map(|r| r.iter().map(|v| v.replace(',', ";")).collect()).collect() };
    let md_path = out.join("compare.md");
    let csv_path = out.join("compare.csv");
    let mut md = String::from("# pads compare\n\nTest-split metrics. `best` = the epoch checkpoint_best.safetensors holds, chosen by the rule shown; `final` = the last evaluated epoch.\n\n");
    md.push_str(&markdown(&header, &rows));
    crate::util::write_atomic(&md_path, md.as_bytes())?;
    crate::util::write_atomic(&csv_path, csv.to_string().as_bytes())?;

    // Overlaid curves: one line per run.
    let mut curve_imgs = Vec::new();
    let mut curve_names: Vec<String> = names.iter().filter(|n| *n == "recall@1" || *n == "nmi" || *n == "map@r").cloned().collect();
    curve_names.push("loss".into());
    for metric in &curve_names {
        let series: Vec<(String, Vec<(f64, f64)>)> = runs
            .iter()
            .map(|r| {
                let e = r.table.column("epoch").unwrap_or_default();
                let v = r.table.column(metric).unwrap_or_default();
                (r.name.clone(), e.into_iter().zip(v).filter(|p| p.1.is_finite()).collect())
            })
            .collect();
        let (title, y) = if metric == "loss" { ("training loss (mean over the epoch)".to_string(), "loss") } else { (format!("test {metric}"), metric.as_str()) };
        let path = out.join(format!("curves_{}.png", file_stem(metric)));
        plots::overlay(&path, &title, "epoch", y, &series)?;
        curve_imgs.push(img(&path, &title)?);
    }

    // Per PADS run: distribution heatmap and the policy's course.
    let mut pads_html = String::new();
    for r in runs.iter().filter(|r| !r.progression.is_empty()) {
        let stem = file_stem(&r.name);
        let lim = &r.cfg.policy_support_limit;
        let support = crate::miners::distribution::linspace(lim[0], lim[1], r.cfg.policy_n_support);
        let dists: Vec<Vec<f64>> = r.progression.iter().map(|p| p.distribution.clone()).collect();
        let heat = out.join(format!("{stem}_distribution.png"));
        plots::distribution_heatmap(&heat, &support, &dists, false)?;
        let policy = out.join(format!("{stem}_policy.png"));
        plots::policy_curves(&policy, &r.progression, super::reward_metric_label(r.cfg.policy_reward_type))?;
        pads_html.push_str(&format!("<h3>{}</h3>", escape(&r.name)));
        pads_html.push_str(&img(&heat, "sampling distribution over policy updates (probability per anchor-negative distance bin)")?);
        pads_html.push_str(&img(&policy, "reward, validation metric and policy loss per policy update")?);
    }
    if pads_html.is_empty() {
        pads_html.push_str("<p>No PADS run among these runs.</p>");
    }

    let data = &runs[0].cfg;
    let mut body = format!("<h1>pads compare: {} runs</h1>", runs.len());
    for w in &warnings {
        body.push_str(&format!("<p class=\"warn\">warning: {}</p>", escape(w)));
    }
    body.push_str(&format!(
        "<p>Test split of dataset <b>{}</b> under {}. Runs:</p><ul>",
        data.dataset.as_str().to_string(),
        escape(&data.data_root.display().to_string())
    ));
    for r in &runs {
        let evaluated = r.table.rows.iter().filter(|row| row[0] != "0").count();
        body.push_str(&format!(
            "<li><b>{}</b> ({}): sampling {}, loss {}, arch {}, seed {}, {evaluated} of {} epochs, {} policy updates; best checkpoint chosen by {}</li>",
            escape(&r.name),
            escape(&r.dir.display().to_string()),
            r.cfg.sampling.as_str().to_string(),
            r.cfg.loss.as_str().to_string(),
            r.cfg.arch.as_str().to_string(),
            r.cfg.seed,
            r.cfg.n_epochs,
            r.progression.len(),
            r.cfg.select_on.rule()
        ));
    }
    body.push_str("</ul>");
    body.push_str("<h2>Best and final checkpoints</h2><p><b>best</b> = the epoch checkpoint_best.safetensors holds, chosen by the rule in the table; <b>final</b> = the last evaluated epoch. Values are test-split metrics.</p>");
    body.push_str(&html_table(&header, &rows));
    body.push_str("<h2>Test metrics over epochs</h2>");
    body.push_str(&curve_imgs.join(""));
    body.push_str("<h2>PADS runs</h2>");
    body.push_str(&pads_html);
    body.push_str("<h2>Options that differ</h2>");
    let diffs = config_differences(&runs);
    if diffs.is_empty() {
        body.push_str("<p>None: the runs share every option.</p>");
    } else {
        let mut h: Vec<String> = vec!["option".into()];
        h.extend(runs.iter().map(|r| r.name.clone()));
        let rows: Vec<Vec<String>> = diffs.into_iter().map(|(k, v)| std::iter::once(k).chain(v).collect()).collect();
        body.push_str(&html_table(&h, &rows));
    }
    let html = super::html::page("pads compare", &body);
    let html_path = out.join("compare.html");
    crate::util::write_atomic(&html_path, html.as_bytes())?;
    Ok(CompareOutput { html: html_path, markdown: md_path, csv: csv_path, text_table: super::text_table(&header, &rows), warnings })
}
