//! What a run logs and reports means what its label says: TensorBoard (train/loss, no
//! uncomputed val/map@r, one step axis, the config as text), the checkpoint rule
//! (--select-on, `eval --checkpoint`, best and final rows), plain output when not on a
//! terminal (no escape codes, progress lines, start-up summary), `pads compare`, the plots.
mod common;
use pads::config::RunConfig;
use pads::options::{Arch, DatasetKind, Sampling, SelectOn};
use pads::data::synth::{self, SynthOptions};
use pads::run::log::{best_row, final_row};
use pads::run::{CheckpointChoice, CsvTable};
use pads::inference::eval::evaluate_checkpoint;
use pads::train::{train, TrainOptions, TrainSummary};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A tiny synthetic set: 16 classes of 12 images, 32 px (8 train classes, 8 test classes).
fn data_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-runlog-tests");
        synth::ensure(&root, &SynthOptions { classes: 16, per_class: 12, image_size: 32, seed: 0 }).unwrap();
        root
    })
}

fn tiny(sampling: Sampling, epochs: usize) -> RunConfig {
    RunConfig {
        dataset: DatasetKind::Synthetic,
        data_root: data_root().to_path_buf(),
        arch: Arch::Small,
        image_size: 32,
        embed_dim: 16,
        bs: 16,
        samples_per_class: 4,
        n_epochs: epochs,
        lr: 3e-3,
        tau: vec![100],
        seed: 3,
        sampling,
        loss: pads::options::LossKind::Margin,
        train_val_split: 0.8,
        num_workers: 1,
        policy_sample_freq: 2,
        policy_metric_history: 2,
        policy_training_delay: 0,
        select_on: SelectOn::Test,
        ..RunConfig::default()
    }
}

fn quiet() -> TrainOptions {
    TrainOptions { quiet: true, ..Default::default() }
}

/// Two finished runs on the same data: distance (2 epochs) and PADS (2 epochs), both with
/// the untrained row.
struct Runs {
    _tmp: tempfile::TempDir,
    distance: PathBuf,
    pads: PathBuf,
    pads_summary: TrainSummary,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let distance = tmp.path().join("distance");
        let pads = tmp.path().join("pads");
        let opts = TrainOptions { eval_before: true, ..quiet() };
        train(&tiny(Sampling::Distance, 2), &distance, &opts).unwrap();
        let pads_summary = train(&tiny(Sampling::Pads, 2), &pads, &opts).unwrap();
        Runs { _tmp: tmp, distance, pads, pads_summary }
    })
}

use common::protobuf_fields as fields;

fn field<'a>(f: &'a [(u64, u8, Vec<u8>)], n: u64) -> Option<&'a Vec<u8>> {
    f.iter().find(|x| x.0 == n).map(|x| &x.2)
}

/// Every summary value of a run's event file: (tag, step, value fields).
fn tensorboard_values(run: &Path) -> Vec<(String, u64, Vec<(u64, u8, Vec<u8>)>)> {
    let dir = run.join("tensorboard");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let data = std::fs::read(&files[0]).unwrap();
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < data.len() {
        let len = u64::from_le_bytes(data[pos..pos + 8].try_into().unwrap()) as usize;
        let event = fields(&data[pos + 12..pos + 12 + len]);
        pos += 16 + len;
        let step = field(&event, 2).map(|s| u64::from_le_bytes(s.clone().try_into().unwrap())).unwrap_or(0);
        if let Some(summary) = field(&event, 5) {
            for v in fields(summary).into_iter().filter(|x| x.0 == 1) {
                let value = fields(&v.2);
                let tag = String::from_utf8(field(&value, 1).unwrap().clone()).unwrap();
                out.push((tag, step, value));
            }
        }
    }
    out
}

#[test]
fn tensorboard_logs_train_loss_no_uncomputed_values_one_step_axis_and_the_config() {
    let r = runs();
    let ipe = r.pads_summary.iterations_per_epoch as u64;
    let values = tensorboard_values(&r.pads);
    let tags: std::collections::BTreeSet<&str> = values.iter().map(|v| v.0.as_str()).collect();
    assert!(!tags.contains("test/loss"), "the training loss is not a test metric: {tags:?}");
    assert!(tags.contains("train/loss") && tags.contains("test/recall@1") && tags.contains("val/recall@1"), "{tags:?}");
    assert!(!tags.contains("val/map@r"), "validation does not compute mAP@R: {tags:?}");
    // One step axis, the global iteration: test values at 0 (untrained), ipe and 2 ipe.
    let test_steps: Vec<u64> = values.iter().filter(|v| v.0 == "test/recall@1").map(|v| v.1).collect();
    assert_eq!(test_steps, vec![0, ipe, 2 * ipe]);
    let train_steps: Vec<u64> = values.iter().filter(|v| v.0 == "train/loss").map(|v| v.1).collect();
    assert_eq!(train_steps, vec![ipe, 2 * ipe]);
    let val_steps: Vec<u64> = values.iter().filter(|v| v.0 == "val/recall@1").map(|v| v.1).collect();
    assert_eq!(val_steps.len(), r.pads_summary.policy_updates);
    // Policy steps after iterations M + 1, 2M + 1, ... (the original's counter), M = 2.
    assert!(val_steps.iter().all(|s| s % 2 == 1 && *s >= 3 && *s <= 2 * ipe), "{val_steps:?} with {ipe} iterations per epoch");
    // The configuration as a text summary: plugin "text", a DT_STRING tensor holding the TOML.
    let text = values.iter().find(|v| v.0 == "config").expect("a config text summary");
    assert_eq!(text.1, 0);
    let meta = fields(field(&text.2, 9).expect("summary metadata"));
    let plugin = fields(field(&meta, 1).expect("plugin data"));
    assert_eq!(field(&plugin, 1).unwrap(), b"text");
    let tensor = fields(field(&text.2, 8).expect("a tensor"));
    assert_eq!(u64::from_le_bytes(field(&tensor, 1).unwrap().clone().try_into().unwrap()), 7, "DT_STRING");
    let body = String::from_utf8(field(&tensor, 8).unwrap().clone()).unwrap();
    assert!(body.contains("    policy_sample_freq = 2") && body.contains("    sampling = \"pads\""), "{body}");
    // pads_progression.jsonl leaves mAP@R out too.
    let text = std::fs::read_to_string(r.pads.join("pads_progression.jsonl")).unwrap();
    for line in text.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).unwrap();
        let names: Vec<&str> = rec["val_metrics"].as_array().unwrap().iter().map(|p| p[0].as_str().unwrap()).collect();
        assert!(names.contains(&"recall@1") && !names.contains(&"map@r"), "{names:?}");
    }
}

#[test]
fn resume_marks_a_session_restart_so_tensorboard_drops_orphaned_steps() {
    let cfg = tiny(Sampling::Distance, 2);
    let out = tempfile::tempdir().unwrap();
    let s1 = train(&cfg, out.path(), &TrainOptions { stop_after_epoch: Some(1), ..quiet() }).unwrap();
    train(&cfg, out.path(), &TrainOptions { resume: true, ..quiet() }).unwrap();
    let ipe = s1.iterations_per_epoch as u64;
    let dir = out.path().join("tensorboard");
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let data = std::fs::read(file).unwrap();
    let mut pos = 0;
    let mut restarts = Vec::new();
    while pos < data.len() {
        let len = u64::from_le_bytes(data[pos..pos + 8].try_into().unwrap()) as usize;
        let event = fields(&data[pos + 12..pos + 12 + len]);
        pos += 16 + len;
        if let Some(session) = field(&event, 6) {
            let status = u64::from_le_bytes(field(&fields(session), 1).unwrap().clone().try_into().unwrap());
            let step = u64::from_le_bytes(field(&event, 2).unwrap().clone().try_into().unwrap());
            restarts.push((status, step));
        }
    }
    assert_eq!(restarts, vec![(1, ipe)], "one SessionLog START at the resumed iteration");
}

#[test]
fn best_row_is_the_first_maximum_of_the_rule_and_final_the_last_evaluated() {
    let t = CsvTable {
        header: ["epoch", "loss", "recall@1", "val_recall@1"].map(String::from).to_vec(),
        rows: vec![
            vec!["0".into(), "".into(), "0.9".into(), "0.9".into()],
            vec!["1".into(), "0.5".into(), "0.3".into(), "0.6".into()],
            vec!["2".into(), "0.4".into(), "0.5".into(), "0.4".into()],
            vec!["3".into(), "0.4".into(), "0.5".into(), "0.6".into()],
            vec!["4".into(), "0.3".into()],
        ],
    };
    // Epoch 0 (untrained) never counts; a tie keeps the earlier epoch.
    assert_eq!(best_row(&t, SelectOn::Test), Some(2));
    assert_eq!(best_row(&t, SelectOn::Val), Some(1));
    // Epoch 4 was not evaluated: the final row is epoch 3.
    assert_eq!(final_row(&t), Some(3));
}

#[test]
fn select_on_val_keeps_the_best_validation_epoch_and_eval_says_which_checkpoint() {
    let mut cfg = tiny(Sampling::Distance, 3);
    cfg.select_on = SelectOn::Val;
    let out = tempfile::tempdir().unwrap();
    // As in the original, a fixed sampler holds out no validation split: refused, naming the flag.
    let err = format!("{:#}", train(&cfg, out.path(), &quiet()).err().unwrap());
    assert!(err.contains("--val-split-all-samplers"), "{err}");
    cfg.val_split_all_samplers = true;
    let s = train(&cfg, out.path(), &quiet()).unwrap();
    let table = CsvTable::read(&out.path().join("metrics.csv")).unwrap();
    // After the run's columns, before the gradient numbers (a fixed sampler: no policy ones).
    assert!(table.header.ends_with(&["val_recall@1".to_string(), "grad_l2".to_string(), "grad_max".to_string()]), "{:?}", table.header);
    let val = table.column("val_recall@1").unwrap();
    let first_max = (0..val.len()).fold(0, |b, i| if val[i] > val[b] { i } else { b });
    assert_eq!(s.best_epoch, first_max + 1, "validation Recall@1 per epoch {val:?}");
    assert_eq!(s.last_epoch, 3);
    // eval --checkpoint best / last: the rows of those epochs, and says which one it used.
    let test_r1 = table.column("recall@1").unwrap();
    let (best, info) = evaluate_checkpoint(out.path(), None, CheckpointChoice::Best, true).unwrap();
    assert_eq!(info.epoch, Some(s.best_epoch));
    assert!((best.recall1() - test_r1[s.best_epoch - 1]).abs() < 1e-6);
    assert!(info.describe().contains("highest validation Recall@1"), "{}", info.describe());
    let (last, info) = evaluate_checkpoint(out.path(), None, CheckpointChoice::Last, true).unwrap();
    assert_eq!(info.epoch, Some(3));
    assert!((last.recall1() - test_r1[2]).abs() < 1e-6);
    // The report names the rule and shows the final row next to the best one.
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("best: checkpoint_best, highest validation Recall@1") && html.contains("final: last evaluated epoch"), "{html}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["best_rule"], "highest validation Recall@1");
    assert_eq!(summary["last_epoch"], 3);
    // Without a validation split the rule is refused, naming both options.
    cfg.train_val_split = 1.0;
    let err = format!("{:#}", train(&cfg, tempfile::tempdir().unwrap().path(), &quiet()).err().unwrap());
    assert!(err.contains("--select-on val") && err.contains("--train-val-split"), "{err}");
}

/// One `pads train` through the binary with stdout and stderr piped (not a terminal).
struct PipedRun {
    _tmp: tempfile::TempDir,
    run: PathBuf,
    stdout: String,
    stderr: String,
}

fn piped_run() -> &'static PipedRun {
    static RUN: OnceLock<PipedRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("piped");
        let root = data_root().display().to_string();
        let out = Command::new(common::pads_bin())
            .args([
                "train", "--dataset", "synthetic", "--data-root", &root, "--arch", "small", "--image-size", "32",
                "--embed-dim", "16", "--bs", "16", "--samples-per-class", "4", "--train-val-split", "0.8",
                "--sampling", "pads", "--loss", "margin", "--policy-sample-freq", "2", "--policy-metric-history", "2",
                "--policy-training-delay", "0", "--n-epochs", "2", "--seed", "3", "--num-workers", "1", "--lr", "3e-3",
                "--out", run.to_str().unwrap(),
            ])
            .env("PADS_LOG", "debug")
            .env("PADS_PROGRESS_SECS", "0")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        PipedRun { _tmp: tmp, run, stdout, stderr }
    })
}

#[test]
fn piped_output_has_no_escape_codes() {
    let p = piped_run();
    assert!(p.stderr.contains("DEBUG"), "the debug log lines are there:\n{}", p.stderr);
    assert!(!p.stderr.contains('\x1b') && !p.stdout.contains('\x1b'), "escape codes in piped output:\n{:?}", p.stderr);
}

#[test]
fn piped_output_has_progress_lines_with_iteration_loss_speed_and_eta() {
    let p = piped_run();
    let lines: Vec<&str> = p.stderr.lines().filter(|l| l.starts_with("iteration ")).collect();
    assert!(lines.len() >= 4, "{}", p.stderr);
    let re_ok = |l: &str| l.contains("(epoch ") && l.contains(": loss ") && l.contains(" img/s, run ETA ");
    assert!(lines.iter().all(|l| re_ok(l)), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("(epoch 2/2)")), "{lines:?}");
}

#[test]
fn startup_summary_names_splits_device_schedule_policy_updates_and_folder() {
    let p = piped_run();
    let block: Vec<&str> = p.stderr.lines().skip_while(|l| !l.starts_with("pads train: run folder")).take(6).collect();
    assert!(block[0].contains(&p.run.display().to_string()) && block[0].contains("new run"), "{block:?}");
    let text = block.join("\n");
    // 8 train classes of 12 images: 80 % train (9 or 10 per class), the rest validation; 8 test classes.
    assert!(text.contains("/ 8 classes, validation ") && text.contains("test 96 images / 8 classes"), "{text}");
    assert!(text.contains("torch threads") && text.contains("cpu"), "{text}");
    let ipe: usize = text.split(" epochs x ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(text.contains(&format!("2 epochs x {ipe} iterations = {} iterations", 2 * ipe)), "{text}");
    // Planned PADS updates = the updates the run made (one line each in the progression).
    let made = std::fs::read_to_string(p.run.join("pads_progression.jsonl")).unwrap().lines().count();
    assert!(text.contains(&format!("every 2 iterations from epoch 1: {made} planned")), "{text}");
    assert!(text.contains("highest test Recall@1"), "{text}");
    // The closing table has the best and the final row with the rule.
    assert!(p.stdout.contains("best") && p.stdout.contains("final") && p.stdout.contains("highest test Recall@1"), "{}", p.stdout);
}

#[test]
fn eval_cli_reports_the_checkpoint_it_used() {
    let p = piped_run();
    let out = Command::new(common::pads_bin())
        .args(["eval", "--run", p.run.to_str().unwrap(), "--checkpoint", "last", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["checkpoint"], "last");
    assert_eq!(m["epoch"], 2);
    let table = CsvTable::read(&p.run.join("metrics.csv")).unwrap();
    assert!((m["recall@1"].as_f64().unwrap() - table.column("recall@1").unwrap()[1]).abs() < 1e-6);
}

#[test]
fn compare_writes_one_page_with_every_section_and_refuses_other_data() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let c = pads::report::compare::compare_runs(&[r.distance.clone(), r.pads.clone()], out.path()).unwrap();
    // As in the original, only PADS holds out a validation split: the fixed sampler trained on
    // more images, and the comparison says so.
    assert_eq!(
        c.warnings,
        ["distance and pads trained on different images (every training image vs 0.8 of the training images of each class, the original's share held out for validation)"]
    );
    let html = std::fs::read_to_string(&c.html).unwrap();
    let order = ["pads compare: 2 runs", "Best and final checkpoints", "Test metrics over epochs", "PADS runs", "Options that differ"];
    let pos: Vec<usize> = order.iter().map(|s| html.find(s).unwrap_or_else(|| panic!("no {s:?} in the page"))).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "sections out of order: {pos:?}");
    // Self-contained: curves of recall@1, nmi, map@r and loss, plus the PADS run's heatmap
    // and policy plot, all inlined; nothing links out.
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 6);
    assert!(!html.contains("src=\"http") && !html.contains("href="));
    assert!(html.contains("highest test Recall@1 (checkpoint_best)") && html.contains("last evaluated epoch (checkpoint_last)"));
    // The table: best and final row per run, with the rule.
    let csv = CsvTable::read(&c.csv).unwrap();
    assert_eq!(csv.header[..5], ["run", "sampling", "checkpoint", "epoch", "chosen by"].map(String::from));
    let kinds: Vec<(String, String)> = csv.rows.iter().map(|r| (r[0].clone(), r[2].clone())).collect();
    assert_eq!(kinds, [("distance", "best"), ("distance", "final"), ("pads", "best"), ("pads", "final")].map(|(a, b)| (a.to_string(), b.to_string())));
    let pads_table = CsvTable::read(&r.pads.join("metrics.csv")).unwrap();
    let best = best_row(&pads_table, SelectOn::Test).unwrap();
    assert_eq!(csv.rows[2][3], pads_table.rows[best][0]);
    assert!(std::fs::read_to_string(&c.markdown).unwrap().contains("| pads | pads | final | 2 |"));
    // The options that differ: the sampler.
    assert!(html.contains("<td>sampling</td>"));
    // Option values as typed on the command line, not the Rust names.
    assert!(html.contains("sampling pads, loss ") && !html.contains("sampling Pads") && !html.contains("arch Small"), "{html}");
    // Runs tested on other data are refused, naming the setting.
    let other = out.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let cfg = std::fs::read_to_string(r.distance.join("config.toml")).unwrap().replace("dataset = \"synthetic\"", "dataset = \"cub200\"");
    std::fs::write(other.join("config.toml"), cfg).unwrap();
    std::fs::copy(r.distance.join("metrics.csv"), other.join("metrics.csv")).unwrap();
    let err = format!("{:#}", pads::report::compare::compare_runs(&[r.distance.clone(), other], &out.path().join("x")).err().unwrap());
    assert!(err.contains("different data") && err.contains("dataset: synthetic vs cub200"), "{err}");
    // Runs scored by another Recall@k rule are compared with a warning naming it.
    let skip = out.path().join("skip");
    std::fs::create_dir_all(&skip).unwrap();
    let cfg = std::fs::read_to_string(r.distance.join("config.toml")).unwrap();
    assert!(cfg.contains("skip_lone_queries = false"), "{cfg}");
    std::fs::write(skip.join("config.toml"), cfg.replace("skip_lone_queries = false", "skip_lone_queries = true")).unwrap();
    std::fs::copy(r.distance.join("metrics.csv"), skip.join("metrics.csv")).unwrap();
    let c = pads::report::compare::compare_runs(&[r.distance.clone(), skip], &out.path().join("y")).unwrap();
    assert_eq!(c.warnings, ["distance and skip score by different rules: lone queries in Recall@k (skip_lone_queries) false vs true"]);
}

fn pixel(img: &image::RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

fn near(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() <= tol)
}

#[test]
fn plots_have_colour_bars_a_useful_log_floor_loss_and_policy_curves() {
    let r = runs();
    // report.html shows metrics, both heatmaps, the policy plot and the retrieval grid.
    let html = std::fs::read_to_string(r.pads.join("report.html")).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), 5);
    let policy = image::open(r.pads.join("policy.png")).unwrap().to_rgb8();
    assert_eq!((policy.width(), policy.height()), (900, 780));
    // metrics.png has a second panel for the training loss.
    let metrics = image::open(r.pads.join("metrics.png")).unwrap().to_rgb8();
    assert_eq!((metrics.width(), metrics.height()), (900, 760));
    // The colour bar: the ramp's top colour (yellow) high up and its bottom colour (purple)
    // low down in the strip right of the heatmap.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("heat.png");
    let support = [0.0, 1.0, 2.0, 3.0];
    let probs = vec![vec![1e-15, 1e-3, 1.0 - 1e-3]; 4];
    pads::report::plots::distribution_heatmap(&path, &support, &probs, true).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    let strip: Vec<[u8; 3]> = (0..img.height()).map(|y| pixel(&img, 880, y)).collect();
    let yellow = strip.iter().position(|p| near(*p, [253, 231, 37], 12));
    let purple = strip.iter().rposition(|p| near(*p, [68, 1, 84], 12));
    assert!(matches!((yellow, purple), (Some(a), Some(b)) if a < b), "no colour bar at x = 880: {yellow:?} {purple:?}");
    // The log floor is 1e-6: 1e-3 sits halfway up the scale (teal), not near the top as it
    // would with the 1e-15 clip value as the floor. The middle bin is the plot's centre.
    let centre = pixel(&img, 430, 260);
    assert!(near(centre, [33, 145, 140], 30), "1e-3 drawn as {centre:?}");
}

#[test]
fn best_and_final_table_is_aligned() {
    let r = runs();
    let m = r.pads_summary.last.clone();
    let long = TrainSummary { best_epoch: 12, last_epoch: 120, ..r.pads_summary.clone() };
    let cfg = tiny(Sampling::Pads, 2);
    let text = pads::demo::best_final_table(&[("distance", &long, &cfg), ("pads-with-a-long-name", &r.pads_summary, &cfg)]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "header, untrained, best and final of two runs:\n{text}");
    assert!(lines.iter().all(|l| l.len() == lines[0].len()), "columns not aligned:\n{text}");
    // Each value ends under the end of its column's name.
    let end = lines[0].find("recall@1").unwrap() + "recall@1".len();
    assert!(lines[1..].iter().all(|l| l.as_bytes()[end - 1].is_ascii_digit() && l.as_bytes()[end] == b' '), "{text}");
    assert!(text.contains(&format!("{:.4}", m.recall1())));
    // Columns: every Recall@k, then nmi, f1, map@r (not a fixed count: six k values keep map@r;
    // the class distances stay in metrics.csv).
    let mut six = r.pads_summary.clone();
    six.last.recall = (1..=6).map(|k| (k, 0.5)).collect();
    six.best.recall = six.last.recall.clone();
    six.before = None;
    let text = pads::demo::best_final_table(&[("six", &six, &cfg)]);
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header[header.len() - 9..], ["recall@1", "recall@2", "recall@3", "recall@4", "recall@5", "recall@6", "nmi", "f1", "map@r"], "{text}");
}

#[test]
fn make_setup_announces_the_download_and_shows_pip_progress() {
    let out = Command::new("make")
        .args(["-n", "-B", "setup", "VENV=/nonexistent-venv"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let announce = lines.iter().position(|l| l.contains("about 4 GB")).unwrap_or_else(|| panic!("no announcement:\n{text}"));
    let install = lines.iter().position(|l| l.contains("pip install") && l.contains("requirements.txt")).unwrap();
    assert!(announce < install, "{text}");
    assert!(!lines[install].split_whitespace().any(|w| w == "-q" || w == "--quiet"), "pip's progress is hidden: {}", lines[install]);
}

/// With `--eval-every 2` the epochs without a test evaluation still write full-width rows
/// of metrics.csv (empty test cells), so the file is a rectangle every CSV reader takes.
#[test]
fn eval_every_keeps_metrics_csv_rectangular() {
    let root = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-eval-every");
    pads::data::synth::ensure(&root, &pads::data::synth::SynthOptions { classes: 8, per_class: 12, image_size: 16, seed: 0 }).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cfg = pads::config::RunConfig {
        dataset: pads::options::DatasetKind::Synthetic,
        data_root: root,
        arch: pads::options::Arch::Small,
        image_size: 16,
        embed_dim: 8,
        bs: 8,
        samples_per_class: 2,
        n_epochs: 3,
        tau: vec![100],
        eval_every: 2,
        sampling: pads::options::Sampling::Distance,
        num_workers: 1,
        ..pads::config::RunConfig::default()
    };
    pads::train::train(&cfg, out.path(), &pads::train::TrainOptions { quiet: true, ..Default::default() }).unwrap();
    let text = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{text}");
    let r1 = rows[0].iter().position(|h| *h == "recall@1").unwrap();
    let lr = rows[0].iter().position(|h| *h == "lr").unwrap();
    // Epoch 1 is not evaluated (empty test cells, lr still written); 2 and 3 are.
    assert_eq!((rows[1][0], rows[1][r1]), ("1", ""));
    assert!(!rows[1][lr].is_empty() && !rows[2][r1].is_empty() && !rows[3][r1].is_empty(), "{text}");
}
