//! Run folders and where a run's data comes from: an existing run is never trained over
//! silently (train, demo, sweeps), only an explicit `--dataset synthetic` (or synth / demo)
//! generates data, `--resume` keeps the run's options, and a run's stored data root works
//! from any working folder.
mod common;
use pads::config::RunConfig;
use pads::data::synth::{self, SynthOptions};
use std::path::{Path, PathBuf};

/// A tiny synthetic set shared by these tests (8 classes: 4 train, 4 test).
fn data_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-runs-tests");
    synth::ensure(&root, &SynthOptions { classes: 8, per_class: 12, image_size: 16, seed: 0 }).unwrap();
    root
}

/// Explicit options of a tiny run (no reliance on defaults).
fn train_args(root: &Path, sampling: &str, epochs: usize) -> Vec<String> {
    [
        "train", "--dataset", "synthetic", "--data-root", root.to_str().unwrap(), "--arch", "small", "--image-size", "16",
        "--embed-dim", "8", "--bs", "8", "--samples-per-class", "2", "--lr", "0.001", "--loss", "margin", "--seed", "0",
        "--train-val-split", "0.75", "--tau", "100", "--sampling", sampling, "--policy-sample-freq", "2",
        "--policy-metric-history", "2", "--policy-mode", "ppo", "--num-workers", "1", "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--n-epochs".to_string(), epochs.to_string()])
    .collect()
}

use common::pads_in;

fn pads(args: &[String]) -> (bool, String, String) {
    pads_in(None, args)
}

fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

// ---- item 1: an existing run folder ----

#[test]
fn training_into_a_run_folder_is_refused_and_overwrite_replaces_the_whole_run() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = run.to_str().unwrap();
    // A PADS run: it leaves PADS plots, a progression log and TensorBoard events.
    let (ok, _, err) = pads(&with(train_args(&root, "pads", 1), &["--out", out]));
    assert!(ok, "{err}");
    for f in ["distribution.png", "pads_progression.jsonl", "checkpoint_best.safetensors", "config.toml"] {
        assert!(run.join(f).exists(), "the PADS run lacks {f}");
    }
    let metrics = std::fs::read(run.join("metrics.csv")).unwrap();
    std::fs::write(run.join("notes.txt"), "mine").unwrap();

    // A second run into the same folder is refused before any work, naming the ways on.
    let (ok, _, err) = pads(&with(train_args(&root, "random", 1), &["--out", out]));
    assert!(!ok);
    assert!(err.contains("already holds a run") && err.contains(&format!("--resume {out}")), "{err}");
    assert!(err.contains("another --out") && err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read(run.join("metrics.csv")).unwrap(), metrics, "the refused run touched metrics.csv");

    // --overwrite removes the old run first and says so; nothing of the PADS run is left.
    let (ok, _, err) = pads(&with(train_args(&root, "random", 1), &["--out", out, "--overwrite"]));
    assert!(ok, "{err}");
    assert!(err.contains("--overwrite: removed the previous run's") && err.contains("distribution.png"), "{err}");
    assert!(err.contains("kept notes.txt"), "{err}");
    for f in ["distribution.png", "distribution_log.png", "pads_progression.jsonl"] {
        assert!(!run.join(f).exists(), "{f} of the old PADS run survived --overwrite");
    }
    let events = std::fs::read_dir(run.join("tensorboard")).unwrap().count();
    assert_eq!(events, 1, "TensorBoard holds events of both runs");
    let cfg = RunConfig::from_toml_file(&run.join("config.toml")).unwrap();
    assert_eq!(cfg.sampling, pads::options::Sampling::Random);
    assert_eq!(std::fs::read_to_string(run.join("notes.txt")).unwrap(), "mine");
}

#[test]
fn an_empty_or_foreign_folder_is_a_fine_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    use pads::run::folder::{check_new_run_folder, clear_run_folder, run_files};
    // Absent, empty, or holding only files pads does not write (or a sweep's own files).
    check_new_run_folder(&tmp.path().join("absent"), false).unwrap();
    check_new_run_folder(tmp.path(), false).unwrap();
    std::fs::write(tmp.path().join("sweep-config.toml"), "n_epochs = 2\n").unwrap();
    std::fs::write(tmp.path().join("sweep.log"), "").unwrap();
    check_new_run_folder(tmp.path(), false).unwrap();
    // One run file makes it a run folder.
    std::fs::create_dir(tmp.path().join("tensorboard")).unwrap();
    std::fs::write(tmp.path().join("tensorboard").join("events.out.tfevents.1"), "x").unwrap();
    std::fs::write(tmp.path().join("timing.csv"), "epoch,seconds\n").unwrap();
    std::fs::write(tmp.path().join(".metrics.csv.tmp"), "half").unwrap();
    assert_eq!(run_files(tmp.path()), vec!["tensorboard", "timing.csv"]);
    let err = format!("{:#}", check_new_run_folder(tmp.path(), false).unwrap_err());
    assert!(err.contains("tensorboard, timing.csv") && err.contains("--overwrite"), "{err}");
    check_new_run_folder(tmp.path(), true).unwrap();
    // Clearing keeps the sweep's files (a sweep restarts a run that died before its first
    // checkpoint with --overwrite, and its log is being written).
    let cleared = clear_run_folder(tmp.path()).unwrap();
    assert_eq!(cleared.removed, vec![".metrics.csv.tmp", "tensorboard", "timing.csv"]);
    assert_eq!(cleared.kept, vec!["sweep-config.toml", "sweep.log"]);
    assert!(run_files(tmp.path()).is_empty());
    // A file is not a run folder.
    let err = format!("{:#}", check_new_run_folder(&tmp.path().join("sweep.log"), true).unwrap_err());
    assert!(err.contains("is a file"), "{err}");
}

#[test]
fn a_second_demo_is_refused_before_any_work_unless_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("demo"));
    std::fs::create_dir_all(out.join("pads")).unwrap();
    std::fs::write(out.join("pads").join("config.toml"), "").unwrap();
    let (ok, _, err) = pads(&s(&["demo", "--data-root", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--epochs", "1"]));
    assert!(!ok);
    assert!(err.contains("already holds this demo's runs") && err.contains("pads demo --overwrite") && err.contains("--out"), "{err}");
    assert!(!data.exists(), "the refused demo generated data");
    // The Makefile's demo target passes --overwrite, so `make demo` twice trains again, saying so.
    let makefile = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile")).unwrap();
    assert!(makefile.contains("demo --data-root data --out runs/demo --overwrite"), "{makefile}");
}

#[test]
fn sweeps_restart_their_own_unfinished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let base = RunConfig { dataset: pads::options::DatasetKind::Synthetic, ..RunConfig::default() };
    let runs = pads::sweep::plan(&base, &[pads::options::Sampling::Random], &[0], tmp.path());
    // No checkpoint yet: a fresh start that clears what an earlier attempt left.
    let cmd = pads::sweep::run_command(Path::new("pads"), &runs[0]);
    assert!(cmd.contains(&"--overwrite".to_string()) && cmd.contains(&"--out".to_string()), "{cmd:?}");
    // With a checkpoint: --resume, which never clears.
    std::fs::create_dir_all(&runs[0].dir).unwrap();
    std::fs::write(runs[0].dir.join("checkpoint_last.safetensors"), "").unwrap();
    let cmd = pads::sweep::run_command(Path::new("pads"), &runs[0]);
    assert!(cmd.contains(&"--resume".to_string()) && !cmd.contains(&"--overwrite".to_string()), "{cmd:?}");
}

// ---- item 2: data is generated only when asked for ----

#[test]
fn a_missing_data_root_is_an_error_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let typo = tmp.path().join("dtaa");
    for dataset in ["synthetic", "cub200", "folder"] {
        let mut args = train_args(&typo, "random", 1);
        args[2] = dataset.to_string();
        let (ok, _, err) = pads(&with(args, &["--out", tmp.path().join("run").to_str().unwrap()]));
        assert!(!ok, "{dataset}");
        assert!(err.contains(typo.to_str().unwrap()) && err.contains("does not exist"), "{dataset}: {err}");
        assert!(!typo.exists(), "{dataset}: the typo'd root was created");
    }
    let (ok, _, err) = pads(&s(&["data", "check", "--dataset", "synthetic", "--data-root", typo.to_str().unwrap()]));
    assert!(!ok && err.contains("does not exist"), "{err}");
    assert!(!typo.exists());
}

#[test]
fn a_root_holding_another_layout_gets_did_you_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("cub200").join("images").join("001.A")).unwrap();
    let r = root.to_str().unwrap();
    // --dataset synthetic does not generate next to another dataset.
    let (ok, _, err) = pads(&with(train_args(root, "random", 1), &["--out", root.join("run").to_str().unwrap()]));
    assert!(!ok && err.contains("did you mean --dataset cub200?"), "{err}");
    assert!(!root.join("synthetic").exists(), "synthetic data was generated next to cub200/");
    for dataset in ["cars196", "online_products", "synthetic", "folder"] {
        let (ok, _, err) = pads(&s(&["data", "check", "--dataset", dataset, "--data-root", r]));
        assert!(!ok && err.contains("did you mean --dataset cub200?"), "{dataset}: {err}");
    }
    assert!(!root.join("synthetic").exists());
}

#[test]
fn data_check_never_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, _, err) = pads(&s(&["data", "check", "--dataset", "synthetic", "--data-root", tmp.path().to_str().unwrap()]));
    assert!(!ok);
    assert!(err.contains("does not exist") && err.contains("pads synth --out"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "data check wrote into the data root");
}

#[test]
fn explicit_synthetic_generates_the_set_and_says_so_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let mut args = with(train_args(&root, "random", 1), &["--out", tmp.path().join("run").to_str().unwrap()]);
    // The default set is 50 train classes: a bigger batch keeps the epoch short.
    let bs = args.iter().position(|a| a == "--bs").unwrap();
    args[bs + 1] = "40".into();
    let (ok, _, err) = pads(&args);
    assert!(ok, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("generating the synthetic set")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("--dataset synthetic") && lines[0].contains(root.join("synthetic").to_str().unwrap()), "{err}");
    assert!(synth::is_complete(&root.join("synthetic"), &SynthOptions::default()));
    // Found the next time: nothing generated.
    let cfg = RunConfig::from_toml_file(&tmp.path().join("run").join("config.toml")).unwrap();
    assert!(!synth::ensure_for_run(&cfg).unwrap());
    // Only the synthetic layout is ever generated.
    let cub = RunConfig { dataset: pads::options::DatasetKind::Cub200, ..cfg };
    assert!(!synth::ensure_for_run(&cub).unwrap());
    assert!(!root.join("cub200").exists());
}

#[test]
fn synth_never_writes_over_an_existing_set() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("synthetic");
    let args = |classes: &str| s(&["synth", "--out", out.to_str().unwrap(), "--classes", classes, "--per-class", "1", "--image-size", "8"]);
    let (ok, stdout, err) = pads(&args("4"));
    assert!(ok && stdout.contains("wrote 4 images of 4 classes"), "{err}");
    // A smaller set into the same folder would leave two stale classes: refused.
    let (ok, _, err) = pads(&args("2"));
    assert!(!ok && err.contains("already holds a dataset") && err.contains("another --out"), "{err}");
    assert_eq!(std::fs::read_dir(out.join("images")).unwrap().count(), 4);
}

// ---- item 3: --resume keeps the run's options ----

#[test]
fn resume_refuses_options_that_change_the_run_and_extends_finished_runs_on_request() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    let (ok, _, err) = pads(&with(train_args(&root, "random", 3), &["--out", r, "--stop-after-epoch", "1"]));
    assert!(ok, "{err}");
    let config = std::fs::read(run.join("config.toml")).unwrap();
    let resume = |more: &[&str]| pads(&with(s(&["train", "--resume", r, "--quiet"]), more));

    let (ok, _, err) = resume(&["--lr", "0.5", "--sampling", "pads"]);
    assert!(!ok);
    assert!(err.contains("--lr: the run has 0.001, this command 0.5"), "{err}");
    assert!(err.contains("--sampling: the run has random, this command pads"), "{err}");
    assert!(err.contains("--n-epochs") && err.contains("--config"), "{err}");
    // The same value as the run's is not a change.
    let (ok, _, err) = resume(&["--lr", "0.001", "--tau", "100", "--stop-after-epoch", "2"]);
    assert!(ok, "{err}");
    for (more, what) in [
        (vec!["--out", tmp.path().join("x").to_str().unwrap()], "--out"),
        (vec!["--config", run.join("config.toml").to_str().unwrap()], "--config"),
        (vec!["--preset", "cub200"], "--preset"),
        (vec!["--overwrite"], "--overwrite"),
        (vec!["--eval-before"], "--eval-before"),
    ] {
        let (ok, _, err) = resume(&more);
        assert!(!ok && err.contains(what) && err.contains("--resume"), "{what}: {err}");
    }
    assert_eq!(std::fs::read(run.join("config.toml")).unwrap(), config, "a refused resume rewrote config.toml");

    // Device and loader threads may differ.
    let (ok, _, err) = resume(&["--device", "cpu", "--num-workers", "2", "--cache-images"]);
    assert!(ok, "{err}");
    assert!(run.join("summary.json").is_file());
    // A finished run says so and what to pass.
    let (ok, _, err) = resume(&[]);
    assert!(!ok && err.contains("is finished (3 of 3 epochs)") && err.contains("--n-epochs N with N > 3"), "{err}");
    let (ok, _, err) = resume(&["--n-epochs", "2"]);
    assert!(!ok && err.contains("--n-epochs 2 is below the run's 3"), "{err}");
    // --n-epochs extends it.
    let (ok, _, err) = resume(&["--n-epochs", "4"]);
    assert!(ok, "{err}");
    assert!(err.contains("extending the finished run"), "{err}");
    let rows = pads::run::CsvTable::read(&run.join("metrics.csv")).unwrap().rows;
    assert_eq!(rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), vec!["1", "2", "3", "4"]);
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs"], 4);
    assert_eq!(RunConfig::from_toml_file(&run.join("config.toml")).unwrap().n_epochs, 4);
}

// ---- item 5: a run's data root from any working folder ----

#[test]
fn a_run_stores_its_data_root_absolute_and_eval_works_from_elsewhere() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Trained with a relative --data-root from the data root's parent folder.
    let parent = root.parent().unwrap();
    let rel = root.file_name().unwrap().to_str().unwrap();
    let (ok, _, err) = pads_in(Some(parent), &with(train_args(Path::new(rel), "random", 1), &["--out", run.to_str().unwrap()]));
    assert!(ok, "{err}");
    let cfg = RunConfig::from_toml_file(&run.join("config.toml")).unwrap();
    assert_eq!(cfg.data_root, root, "config.toml stores the data root absolute");
    let eval = |cwd: &Path, more: &[&str]| pads_in(Some(cwd), &with(s(&["eval", "--run", run.to_str().unwrap(), "--json", "--quiet"]), more));
    let (ok, reference, err) = eval(Path::new("/"), &[]);
    assert!(ok, "{err}");
    let embed_out = tmp.path().join("emb");
    let (ok, _, err) = pads_in(Some(Path::new("/")), &s(&["embed", "--run", run.to_str().unwrap(), "--out", embed_out.to_str().unwrap(), "--quiet"]));
    assert!(ok, "{err}");

    // An older run's relative root: resolved against the run folder when not under the
    // current folder, and said so; unresolvable -> an error naming --data-root.
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let old = text.replace(&format!("data_root = {:?}", root.to_str().unwrap()), "data_root = \"pads-old-relative-root\"");
    assert_ne!(old, text);
    std::fs::write(run.join("config.toml"), &old).unwrap();
    let (ok, _, err) = eval(Path::new("/"), &[]);
    assert!(!ok && err.contains("relative data root") && err.contains("--data-root"), "{err}");
    let (ok, _, err) = pads_in(Some(Path::new("/")), &s(&["embed", "--run", run.to_str().unwrap(), "--out", embed_out.to_str().unwrap()]));
    assert!(!ok && err.contains("--data-root"), "{err}");
    std::os::unix::fs::symlink(&root, run.join("pads-old-relative-root")).unwrap();
    let (ok, out, err) = eval(Path::new("/"), &[]);
    assert!(ok, "{err}");
    assert!(err.contains("relative to the run folder"), "{err}");
    assert_eq!(out, reference);
    // --data-root always wins; a wrong one is named.
    std::fs::remove_file(run.join("pads-old-relative-root")).unwrap();
    let (ok, out, err) = eval(Path::new("/"), &["--data-root", root.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out, reference);
    let (ok, _, err) = eval(Path::new("/"), &["--data-root", "/no/such/root"]);
    assert!(!ok && err.contains("--data-root /no/such/root does not exist"), "{err}");
}

#[test]
fn a_data_root_one_level_too_deep_gets_did_you_mean_data_root() {
    let tmp = tempfile::tempdir().unwrap();
    let deep = tmp.path().join("data").join("cub200");
    std::fs::create_dir_all(deep.join("images").join("001.A")).unwrap();
    let want = format!("did you mean --data-root {}?", tmp.path().join("data").display());
    let (ok, _, err) = pads(&s(&["data", "check", "--dataset", "cub200", "--data-root", deep.to_str().unwrap()]));
    assert!(!ok && err.contains(&want), "{err}");
    // --dataset synthetic would otherwise generate a set inside the set.
    let syn = tmp.path().join("data").join("synthetic");
    std::fs::create_dir_all(syn.join("images").join("001.A")).unwrap();
    let want = format!("did you mean --data-root {}?", tmp.path().join("data").display());
    let (ok, _, err) = pads(&s(&["data", "check", "--dataset", "synthetic", "--data-root", syn.to_str().unwrap()]));
    assert!(!ok && err.contains(&want), "{err}");
    let (ok, _, err) = pads(&with(train_args(&syn, "random", 1), &["--out", tmp.path().join("run").to_str().unwrap()]));
    assert!(!ok && err.contains(&want), "{err}");
    assert!(!syn.join("synthetic").exists(), "a synthetic set was generated inside the synthetic set");
}

#[test]
fn compare_refuses_the_same_run_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("r1");
    std::fs::create_dir_all(&run).unwrap();
    let again = tmp.path().join(".").join("r1");
    let (ok, _, err) = pads(&s(&["compare", run.to_str().unwrap(), again.to_str().unwrap(), "--out", tmp.path().join("cmp").to_str().unwrap()]));
    assert!(!ok && err.contains("is given twice") && err.contains("r1"), "{err}");
}

#[test]
fn a_run_that_fails_before_its_first_checkpoint_is_not_offered_for_resume() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("nan").to_str().unwrap().to_string();
    // A learning rate this large sends the embeddings to NaN in the first epoch.
    let mut args = with(train_args(&root, "distance", 2), &["--out", &out]);
    for (flag, value) in [("--lr", "1e30"), ("--loss", "triplet")] {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.to_string();
    }
    let (ok, _, err) = pads(&args);
    assert!(!ok && err.contains("at epoch 1") && err.contains("no checkpoint was written yet"), "{err}");
    assert!(!err.contains("the last good checkpoint is"), "{err}");
    // The folder holds the run's config and logs but no checkpoint: another try is told to
    // start again, not to resume.
    let (ok, _, err) = pads(&args);
    assert!(!ok && err.contains("stopped before its first checkpoint") && err.contains("--overwrite") && !err.contains("--resume"), "{err}");
    let (ok, _, err) = pads(&s(&["train", "--resume", &out]));
    assert!(!ok && err.contains("holds no checkpoint") && err.contains("--overwrite"), "{err}");
}
