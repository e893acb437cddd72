//! Never silently wrong, round two (issue 26): one writer per run folder (a lock, which a
//! killed run does not leave blocking), a sweep folder belongs to one set of options, resume
//! checks the run folder's files, Ctrl-C in the first epoch, failed writes (the logs never
//! ahead of the checkpoint, no temporary files left), and a Slurm script that works from
//! any folder.
mod common;
use pads::data::synth::{self, SynthOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tiny synthetic set (8 classes: 4 train, 4 test; an epoch takes well under a second).
fn data_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-robustness-tests");
    synth::ensure(&root, &SynthOptions { classes: 8, per_class: 12, image_size: 16, seed: 0 }).unwrap();
    root
}

/// A larger set whose epochs take long enough to interrupt the first one.
fn slow_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-robustness-slow");
    synth::ensure(&root, &SynthOptions { classes: 40, per_class: 80, image_size: 32, seed: 0 }).unwrap();
    root
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Explicit options of a tiny run.
fn train_args(root: &Path, sampling: &str, epochs: usize, out: &Path) -> Vec<String> {
    let mut a = s(&[
        "train", "--dataset", "synthetic", "--data-root", root.to_str().unwrap(), "--arch", "small", "--image-size", "16",
        "--embed-dim", "8", "--bs", "8", "--samples-per-class", "2", "--lr", "0.001", "--loss", "margin", "--seed", "0",
        "--train-val-split", "0.75", "--tau", "100", "--sampling", sampling, "--policy-sample-freq", "2",
        "--policy-metric-history", "2", "--policy-mode", "ppo", "--num-workers", "1", "--quiet",
    ]);
    a.extend(["--n-epochs".to_string(), epochs.to_string(), "--out".to_string(), out.display().to_string()]);
    a
}

fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

use common::pads_in;

fn pads(args: &[String]) -> (bool, String, String) {
    pads_in(None, args)
}

fn resume(run: &Path, more: &[&str]) -> (bool, String, String) {
    pads(&with(s(&["train", "--resume", run.to_str().unwrap(), "--quiet"]), more))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn checkpoint_epoch(p: &Path) -> u64 {
    pads::run::checkpoint::Checkpoint::read_state(p).unwrap()["epoch"].as_u64().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Waits for `child` to end (at most `secs`), returning its stderr and whether it succeeded.
fn finish(child: std::process::Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

// ---- item 1: one writer per run folder ----

#[test]
fn two_trainings_started_at_once_on_one_folder_one_is_refused_and_a_killed_holder_does_not_block() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Both started at the same moment; the winner trains "forever" (1000 epochs).
    let spawn = || {
        Command::new(common::pads_bin())
            .args(train_args(&root, "random", 1000, &run))
            .env("PADS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut a = spawn();
    let mut b = spawn();
    let start = Instant::now();
    let (loser, mut winner) = loop {
        if a.try_wait().unwrap().is_some() {
            break (a, b);
        }
        if b.try_wait().unwrap().is_some() {
            break (b, a);
        }
        assert!(start.elapsed() < Duration::from_secs(120), "neither training ended: both run on one folder");
        std::thread::sleep(Duration::from_millis(20));
    };
    let winner_pid = winner.id();
    let (ok, err) = finish(loser);
    assert!(!ok, "both trainings ran on one folder");
    assert!(err.contains(&format!("{} is in use", run.display())) && err.contains(&format!("PID {winner_pid}, running")), "{err}");
    assert!(err.contains("another --out"), "{err}");
    assert!(winner.try_wait().unwrap().is_none(), "the winner stopped too");
    // The winner's lock file names it; SIGKILL leaves it behind.
    let lock = run.join(pads::run::lock::LOCK_FILE);
    assert!(read(&lock).starts_with(&format!("pid {winner_pid}\n")), "{}", read(&lock));
    winner.kill().unwrap();
    assert!(!winner.wait().unwrap().success());
    assert!(lock.is_file(), "a SIGKILLed run cannot remove its lock file");
    // The next run is not blocked: it takes the lock over, naming the dead holder.
    let (ok, _, err) = pads(&with(train_args(&root, "random", 1, &run), &["--overwrite"]));
    assert!(ok, "{err}");
    assert!(err.contains(&format!("taking over the lock left by PID {winner_pid}, not running")), "{err}");
    assert!(!lock.exists(), "a finished run leaves its lock file behind");

    // While a writer holds the folder: readers work, a second writer (--resume) is refused,
    // naming the holder (this test process).
    let held = pads::run::lock::RunLock::acquire(&run, "test").unwrap();
    let (ok, out, err) = pads(&s(&["eval", "--run", run.to_str().unwrap(), "--json", "--quiet"]));
    assert!(ok && out.contains("recall@1"), "{err}");
    let (ok, _, err) = resume(&run, &["--n-epochs", "2"]);
    assert!(!ok && err.contains(&format!("PID {}, running", std::process::id())), "{err}");
    let err = format!("{:#}", pads::run::lock::RunLock::acquire(&run, "test").unwrap_err());
    assert!(err.contains("is in use") && err.contains(&format!("PID {}", std::process::id())), "{err}");
    drop(held);
    let (ok, _, err) = resume(&run, &["--n-epochs", "2"]);
    assert!(ok && !err.contains("taking over"), "{err}");
}

#[test]
fn a_refused_training_leaves_no_folder_behind_and_a_file_is_no_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    // Refused after the lock was taken (the data root does not exist): the folders made for
    // the lock go again.
    let out = tmp.path().join("a/b/run");
    let (ok, _, err) = pads(&train_args(&tmp.path().join("no-data"), "random", 1, &out));
    assert!(!ok && err.contains("does not exist"), "{err}");
    assert!(!tmp.path().join("a").exists(), "a refused run left its (empty) folders");
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = format!("{:#}", pads::run::lock::RunLock::acquire(&file, "test").unwrap_err());
    assert!(err.contains("is a file, not a folder"), "{err}");
}

// ---- item 2: a sweep folder belongs to one set of options ----

#[test]
fn a_sweep_refuses_other_options_extends_on_more_epochs_and_overwrite_replaces_it() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let sweep = tmp.path().join("sweep");
    let config = tmp.path().join("tiny.toml");
    let cfg = pads::config::RunConfig {
        dataset: pads::options::DatasetKind::Synthetic,
        data_root: root.clone(),
        arch: pads::options::Arch::Small,
        image_size: 16,
        embed_dim: 8,
        bs: 8,
        samples_per_class: 2,
        n_epochs: 1,
        lr: 1e-3,
        loss: pads::options::LossKind::Margin,
        tau: vec![80],
        ..Default::default()
    };
    std::fs::write(&config, cfg.to_toml()).unwrap();
    let run = sweep.join("runs/random_seed0");
    let sweep_cmd = |more: &[&str]| {
        pads(&with(
            s(&["sweep", "--config", config.to_str().unwrap(), "--samplers", "random", "--seeds", "0", "--out", sweep.to_str().unwrap(), "--quiet"]),
            more,
        ))
    };
    let (ok, _, err) = sweep_cmd(&[]);
    assert!(ok && err.contains("1 run(s) trained, 0 already finished"), "{err}");
    let record = std::fs::read(run.join("sweep-config.toml")).unwrap();
    let metrics = std::fs::read(run.join("metrics.csv")).unwrap();

    // Another learning rate: refused, naming both values; nothing rewritten.
    let (ok, _, err) = sweep_cmd(&["--lr", "0.5", "--margin", "0.3"]);
    assert!(!ok, "{err}");
    assert!(err.contains("holds a sweep trained with other options") && err.contains("runs/random_seed0/config.toml"), "{err}");
    assert!(err.contains("--lr: the sweep has 0.001, this command 0.5") && err.contains("--margin: the sweep has 0.2, this command 0.3"), "{err}");
    assert!(err.contains("--overwrite") && err.contains("another --out") && !err.contains("already finished"), "{err}");
    assert_eq!(std::fs::read(run.join("sweep-config.toml")).unwrap(), record, "the refused sweep rewrote the record");
    assert_eq!(std::fs::read(run.join("metrics.csv")).unwrap(), metrics);

    // The same options again: nothing trained. More epochs: the finished run is extended.
    let (ok, _, err) = sweep_cmd(&[]);
    assert!(ok && err.contains("0 run(s) trained, 1 already finished"), "{err}");
    let (ok, _, err) = sweep_cmd(&["--n-epochs", "2"]);
    assert!(ok && err.contains("1 run(s) trained, 0 already finished"), "{err}");
    let rows = pads::run::CsvTable::read(&run.join("metrics.csv")).unwrap().rows;
    assert_eq!(rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), vec!["1", "2"]);
    assert!(read(&run.join("metrics.csv")).starts_with(&String::from_utf8(metrics).unwrap()), "the extension rewrote epoch 1");
    assert_eq!(pads::run::resume::finished_epochs(&run), Some(2));
    // The sweep's record of a run that ran is never rewritten; the run's config.toml says 2.
    assert_eq!(std::fs::read(run.join("sweep-config.toml")).unwrap(), record);
    assert_eq!(pads::config::RunConfig::from_toml_file(&run.join("config.toml")).unwrap().n_epochs, 2);
    let (ok, _, err) = sweep_cmd(&["--n-epochs", "2"]);
    assert!(ok && err.contains("0 run(s) trained, 1 already finished"), "{err}");
    // Fewer epochs than the runs have: refused.
    let (ok, _, err) = sweep_cmd(&[]);
    assert!(!ok && err.contains("--n-epochs: the sweep has 2, this command 1"), "{err}");

    // --overwrite replaces the sweep, saying what it removed and kept.
    std::fs::write(run.join("notes.txt"), "mine").unwrap();
    let (ok, _, err) = sweep_cmd(&["--lr", "0.5", "--overwrite"]);
    assert!(ok, "{err}");
    let line = err.lines().find(|l| l.starts_with("sweep --overwrite: removed")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("the runs random_seed0 (") && line.contains("summary.md") && line.contains("kept runs/random_seed0/notes.txt"), "{line}");
    assert_eq!(read(&run.join("notes.txt")), "mine");
    let cfg = pads::config::RunConfig::from_toml_file(&run.join("config.toml")).unwrap();
    assert_eq!((cfg.lr, cfg.n_epochs), (0.5, 1));
    assert_eq!(pads::run::CsvTable::read(&run.join("metrics.csv")).unwrap().rows.len(), 1);
    assert!(!sweep.join(pads::run::lock::LOCK_FILE).exists(), "the sweep left its lock file");
}

// ---- item 3: resume checks the run folder's files ----

#[test]
fn resume_rebuilds_what_the_checkpoint_holds_and_refuses_what_it_cannot() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    let (ok, _, err) = pads(&train_args(&root, "pads", 3, &reference));
    assert!(ok, "{err}");
    let stopped = tmp.path().join("stopped");
    let (ok, _, err) = pads(&with(train_args(&root, "pads", 3, &stopped), &["--stop-after-epoch", "2"]));
    assert!(ok, "{err}");
    let case = |name: &str| {
        let dir = tmp.path().join(name);
        copy_dir(&stopped, &dir);
        dir
    };
    let full = read(&reference.join("metrics.csv"));

    // metrics.csv deleted: rebuilt exactly from the checkpoint, said so.
    let dir = case("no-metrics");
    std::fs::remove_file(dir.join("metrics.csv")).unwrap();
    let (ok, _, err) = resume(&dir, &[]);
    assert!(ok && err.contains("metrics.csv was missing: rebuilt its 2 row(s) from checkpoint_last"), "{err}");
    assert_eq!(read(&dir.join("metrics.csv")), full);
    // A row short (its write after the checkpoint failed): restored.
    let dir = case("short-metrics");
    let text = read(&dir.join("metrics.csv"));
    let short: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("metrics.csv"), short).unwrap();
    let (ok, _, err) = resume(&dir, &[]);
    assert!(ok && err.contains("lacked the row(s) of epoch(s) 2") && err.contains("restored them from checkpoint_last"), "{err}");
    assert_eq!(read(&dir.join("metrics.csv")), full);
    // Changed by someone else (or headerless): refused, nothing written over.
    let dir = case("edited-metrics");
    let edited: String = read(&dir.join("metrics.csv")).lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("metrics.csv"), &edited).unwrap();
    let (ok, _, err) = resume(&dir, &[]);
    assert!(!ok && err.contains("metrics.csv has another header than this run's") && err.contains("Move it away"), "{err}");
    assert_eq!(read(&dir.join("metrics.csv")), edited);
    assert!(!dir.join("summary.json").exists());
    // pads_progression.jsonl short of the checkpoint's policy steps: refused, naming it.
    let dir = case("no-progression");
    std::fs::remove_file(dir.join("pads_progression.jsonl")).unwrap();
    let (ok, _, err) = resume(&dir, &[]);
    assert!(!ok && err.contains("pads_progression.jsonl lacks") && err.contains("(the file is missing)") && err.contains("--overwrite"), "{err}");
    // timing.csv missing: said, and the run continues.
    let dir = case("no-timing");
    std::fs::remove_file(dir.join("timing.csv")).unwrap();
    let (ok, _, err) = resume(&dir, &[]);
    assert!(ok && err.contains("timing.csv is missing: the wall times of epochs 1-2 are lost"), "{err}");
    assert_eq!(read(&dir.join("metrics.csv")), full);

    // checkpoint_best: rebuilt when the last checkpoint is the best epoch, else refused.
    let first = tmp.path().join("first");
    let (ok, _, err) = pads(&with(train_args(&root, "pads", 3, &first), &["--stop-after-epoch", "1"]));
    assert!(ok, "{err}");
    std::fs::remove_file(first.join("checkpoint_best.safetensors")).unwrap();
    let (ok, _, err) = resume(&first, &["--stop-after-epoch", "2"]);
    assert!(ok && err.contains("checkpoint_best.safetensors was missing; the best epoch is 1 (the last checkpoint's)"), "{err}");
    assert!(checkpoint_epoch(&first.join("checkpoint_best.safetensors")) >= 1);
    let cfg = pads::config::RunConfig::from_toml_file(&stopped.join("config.toml")).unwrap();
    let dir = case("no-best");
    std::fs::remove_file(dir.join("checkpoint_best.safetensors")).unwrap();
    let run = pads::run::RunDir::open(&dir).unwrap();
    let rows = pads::run::CsvTable::read(&dir.join("metrics.csv")).unwrap().rows;
    let point = |best_epoch, metrics_rows| pads::run::resume::ResumePoint { epoch: 2, best_epoch, policy_calls: 0, eval_before: false, metrics_rows };
    let err = format!("{:#}", pads::run::resume::check_run_files(&run, &cfg, &point(1, Some(&rows))).unwrap_err());
    assert!(err.contains("checkpoint_best.safetensors is missing, but the run's best epoch is 1") && err.contains("--overwrite"), "{err}");
    assert!(!dir.join("checkpoint_best.safetensors").exists());
    pads::run::resume::check_run_files(&run, &cfg, &point(2, Some(&rows))).unwrap();
    assert_eq!(std::fs::read(dir.join("checkpoint_best.safetensors")).unwrap(), std::fs::read(dir.join("checkpoint_last.safetensors")).unwrap());
    // A checkpoint of an older pads holds no rows: a missing metrics.csv cannot be rebuilt.
    std::fs::remove_file(dir.join("metrics.csv")).unwrap();
    let err = format!("{:#}", pads::run::resume::check_run_files(&run, &cfg, &point(2, None)).unwrap_err());
    assert!(err.contains("metrics.csv is missing") && err.contains("older pads") && err.contains("cannot be rebuilt"), "{err}");
}

// ---- item 4: Ctrl-C in the first epoch ----

#[test]
fn ctrl_c_in_the_first_epoch_leaves_a_folder_that_says_start_again_not_resume() {
    use std::os::unix::process::ExitStatusExt;
    let root = slow_root();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut args = train_args(&root, "random", 3, &run);
    for (flag, value) in [("--image-size", "32"), ("--bs", "32"), ("--embed-dim", "32")] {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.to_string();
    }
    let mut child = Command::new(common::pads_bin()).args(&args).env("PADS_LOG", "warn").stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !run.join("config.toml").exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "the run never started");
        assert!(child.try_wait().unwrap().is_none(), "training ended before it could be interrupted");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(!run.join("checkpoint_last.safetensors").exists(), "the first epoch ended before Ctrl-C; make it longer");
    // The folder holds the run's config but no checkpoint: another try is told to start
    // again (not to resume), and --resume says why it cannot.
    let (ok, _, err) = pads(&args);
    assert!(!ok && err.contains("stopped before its first checkpoint") && err.contains("--overwrite") && !err.contains("--resume"), "{err}");
    let (ok, _, err) = resume(&run, &[]);
    assert!(!ok && err.contains("holds no checkpoint") && err.contains("--overwrite"), "{err}");
}

// ---- item 5: a failed write ----

#[test]
fn a_failed_checkpoint_write_keeps_metrics_csv_behind_it_and_leaves_no_temporary_file() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    let (ok, _, err) = pads(&train_args(&root, "random", 3, &reference));
    assert!(ok, "{err}");
    let full = read(&reference.join("metrics.csv"));

    // The checkpoint of epoch 2 cannot be written (its temporary file's name is taken by a
    // folder, as a real failure would): the run stops naming it, metrics.csv stays at epoch 1.
    let run = tmp.path().join("run");
    let (ok, _, err) = pads(&with(train_args(&root, "random", 3, &run), &["--stop-after-epoch", "1"]));
    assert!(ok, "{err}");
    let blocker = run.join(".checkpoint_last.safetensors.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let (ok, _, err) = resume(&run, &[]);
    assert!(!ok && err.contains("cannot write") && err.contains("checkpoint_last.safetensors"), "{err}");
    assert_eq!(checkpoint_epoch(&run.join("checkpoint_last.safetensors")), 1);
    let rows = pads::run::CsvTable::read(&run.join("metrics.csv")).unwrap().rows;
    assert_eq!(rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), vec!["1"], "metrics.csv ran ahead of the checkpoint");
    std::fs::remove_dir(&blocker).unwrap();
    // A temporary file an interrupted write left is removed at the next start, named.
    std::fs::write(run.join(".report.html.tmp"), "half").unwrap();
    let (ok, _, err) = resume(&run, &[]);
    assert!(ok && err.contains("removed 1 temporary file(s) an interrupted write left behind (.report.html.tmp)"), "{err}");
    assert_eq!(read(&run.join("metrics.csv")), full);

    // metrics.csv cannot be written after the checkpoint: the resume restores its row.
    let run = tmp.path().join("run2");
    std::fs::create_dir_all(run.join(".metrics.csv.tmp")).unwrap();
    let (ok, _, err) = pads(&train_args(&root, "random", 3, &run));
    assert!(!ok && err.contains("metrics.csv"), "{err}");
    assert_eq!(checkpoint_epoch(&run.join("checkpoint_last.safetensors")), 1);
    assert!(!run.join("metrics.csv").exists());
    let leftovers: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != ".metrics.csv.tmp")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    std::fs::remove_dir(run.join(".metrics.csv.tmp")).unwrap();
    let (ok, _, err) = resume(&run, &[]);
    assert!(ok && err.contains("metrics.csv was missing: rebuilt its 1 row(s)"), "{err}");
    assert_eq!(read(&run.join("metrics.csv")), full);
}

#[test]
fn write_atomic_removes_its_temporary_file_when_the_write_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("t.bin");
    std::fs::write(&target, "old").unwrap();
    // The rename fails: a folder with content sits where the file goes.
    let blocked = tmp.path().join("dir");
    std::fs::create_dir_all(blocked.join("x")).unwrap();
    let err = format!("{:#}", pads::util::write_atomic(&blocked, b"new").unwrap_err());
    assert!(err.contains("cannot write") && err.contains("dir"), "{err}");
    assert!(!tmp.path().join(".dir.tmp").exists(), "the temporary file was left behind");
    pads::util::write_atomic(&target, b"new").unwrap();
    assert_eq!(read(&target), "new");
}

// ---- item 6: the Slurm script works from anywhere ----

#[test]
fn slurm_script_names_absolute_paths_creates_its_log_folder_and_runs_from_any_folder() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let args = s(&[
        "sweep", "--dataset", "synthetic", "--data-root", root.to_str().unwrap(), "--arch", "small", "--image-size", "16", "--embed-dim", "8",
        "--bs", "8", "--samples-per-class", "2", "--n-epochs", "1", "--tau", "80", "--loss", "margin", "--device", "cpu",
        "--samplers", "random", "--seeds", "0", "--slurm", "--out", "sweeps/s1",
    ]);
    // Written with a relative --out from tmp.
    let (ok, stdout, err) = pads_in(Some(tmp.path()), &args);
    assert!(ok, "{err}");
    let sweep = tmp.path().canonicalize().unwrap().join("sweeps/s1");
    assert!(stdout.contains(&format!("sbatch {}", sweep.join("sweep.sbatch").display())), "{stdout}");
    let script = read(&sweep.join("sweep.sbatch"));
    assert!(script.contains(&format!("#SBATCH --chdir={}\n", sweep.display())), "{script}");
    assert!(script.contains(&format!("#SBATCH --output={}/runs/slurm-%A_%a.log\n", sweep.display())), "{script}");
    assert!(sweep.join("runs").is_dir(), "the --output folder does not exist");
    assert!(script.contains(&format!("  {}\n", sweep.join("runs/random_seed0").display())), "{script}");
    assert!(script.contains(&format!("exec {} train", common::pads_bin().display())), "{script}");
    for line in script.lines().filter(|l| l.contains("sweeps/s1")) {
        assert!(line.contains(&sweep.display().to_string()), "a relative path: {line}");
    }
    // Run as Slurm would run index 0, from another folder: it trains the run.
    let run_task = || {
        let o = Command::new("bash")
            .arg(sweep.join("sweep.sbatch"))
            .current_dir("/")
            .env("SLURM_ARRAY_TASK_ID", "0")
            .env("PADS_LOG", "warn")
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
    };
    let (ok, out) = run_task();
    assert!(ok, "{out}");
    assert_eq!(pads::run::resume::finished_epochs(&sweep.join("runs/random_seed0")), Some(1));
    let (ok, out) = run_task();
    assert!(ok && out.contains("already finished (1 epochs)"), "{out}");
    // Two epochs: the script resumes and extends the finished run.
    let mut more = args.clone();
    let i = more.iter().position(|a| a == "--n-epochs").unwrap();
    more[i + 1] = "2".into();
    let (ok, _, err) = pads_in(Some(tmp.path()), &more);
    assert!(ok, "{err}");
    let (ok, out) = run_task();
    assert!(ok, "{out}");
    assert_eq!(pads::run::resume::finished_epochs(&sweep.join("runs/random_seed0")), Some(2));
}
