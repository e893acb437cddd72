//! `pads import` and `--run` on a whole original run folder, in CI: the original's hypa.pkl
//! and checkpoint object (tests/fixtures/original/CUB_R50), its network filled back in by
//! bench/reference/fill_original_checkpoint.py (torchvision's resnet50 held as the original's
//! netlib holds it), its CSV_Logs. tests/original_full.rs checks the numbers against the
//! original code itself on folders it wrote.
mod common;
use std::path::Path;
use std::process::Command;

fn pads(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pads")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = pads(args);
    assert!(o.status.success(), "pads {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// An original folder (legacy-format checkpoint) and a tiny cub200 data root.
fn setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original/CUB_R50");
    let folder = dir.join("CUB_R50");
    std::fs::create_dir_all(folder.join("CSV_Logs")).unwrap();
    // hypa.pkl as the released folders have it: the original machine's dataset path.
    let o = Command::new(common::python())
        .args([
            "-c",
            "import pickle, sys, torch\nopt = pickle.load(open(sys.argv[1], 'rb'))\nopt.source_path = '/original/machine/Datasets/cub200'\npickle.dump(opt, open(sys.argv[2], 'wb'), protocol=3)",
            fx.join("hypa.pkl").to_str().unwrap(),
            folder.join("hypa.pkl").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for e in std::fs::read_dir(fx.join("CSV_Logs")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), folder.join("CSV_Logs").join(e.file_name())).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/reference/fill_original_checkpoint.py");
    let o = Command::new(common::python())
        .args([script.to_str().unwrap(), fx.join("checkpoint_slim_legacy.pth.tar").to_str().unwrap(), folder.join("checkpoint_Class.pth.tar").to_str().unwrap(), "--legacy"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let data = dir.join("data");
    ok(&["synth", "--out", data.join("cub200").to_str().unwrap(), "--classes", "8", "--per-class", "3", "--image-size", "48", "--seed", "1"]);
    (folder, data)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn import_eval_compare_and_refusals_on_a_whole_original_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, data) = setup(tmp.path());
    let before: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();

    // Read directly: its data root is the original machine's, so eval asks for --data-root.
    let o = pads(&["eval", "--run", folder.to_str().unwrap(), "--json", "--quiet"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--data-root") && err.contains("/original/machine/Datasets"), "{err}");
    let direct = json(&ok(&["eval", "--run", folder.to_str().unwrap(), "--data-root", data.to_str().unwrap(), "--json", "--quiet"]));
    assert_eq!(direct["checkpoint"], "best");
    // The checkpoint was saved after epoch 0 (the original's count): pads' epoch 1.
    assert_eq!(direct["epoch"], 1);
    let o = pads(&["eval", "--run", folder.to_str().unwrap(), "--data-root", data.to_str().unwrap(), "--checkpoint", "last"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("keeps only its best checkpoint"));

    // Imported: the same network, the same numbers.
    let run = tmp.path().join("imported");
    let report = ok(&["import", folder.to_str().unwrap(), "--out", run.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
    assert!(report.contains("checkpoint_best.safetensors") && report.contains("CSV_Logs") && report.contains("no policy"), "{report}");
    assert!(report.contains("option save_path") && report.contains("option device"), "{report}");
    let imported = json(&ok(&["eval", "--run", run.to_str().unwrap(), "--json", "--quiet"]));
    for key in ["recall@1", "recall@2", "recall@4", "map@r", "epoch"] {
        assert_eq!(direct[key], imported[key], "{key}");
    }
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("arch = \"resnet50\"") && config.contains("embed_dim = 32") && config.contains("Imported by `pads import`"), "{config}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = metrics.lines().collect();
    assert_eq!(rows.len(), 2, "header + the one epoch of CSV_Logs: {metrics}");
    let recall_logged = std::fs::read_to_string(folder.join("CSV_Logs/Data_Test_Class_Recall.csv")).unwrap();
    let first: f64 = recall_logged.lines().nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    let header: Vec<&str> = rows[0].split(',').collect();
    let at = header.iter().position(|h| *h == "recall@1").unwrap();
    let cell: f64 = rows[1].split(',').nth(at).unwrap().parse().unwrap();
    assert!((cell - first).abs() < 1e-6, "{cell} vs {first}");

    // The original folder is untouched.
    let after: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before.len(), after.len(), "{before:?} vs {after:?}");

    // Importing again into the same folder needs --overwrite; resuming is refused clearly.
    let o = pads(&["import", folder.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--overwrite"));
    let o = pads(&["import", folder.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("imported from the original code"));
    let o = pads(&["train", "--resume", run.to_str().unwrap(), "--quiet"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("cannot be resumed") && !err.contains("panicked"), "{err}");

    // Next to a pads run in `pads compare`.
    let mine = tmp.path().join("mine");
    ok(&["train", "--dataset", "cub200", "--data-root", data.to_str().unwrap(), "--arch", "small", "--image-size", "32", "--n-epochs", "1", "--bs", "8", "--samples-per-class", "2", "--sampling", "distance", "--k-vals", "1", "2", "4", "--out", mine.to_str().unwrap(), "--quiet"]);
    let cmp = tmp.path().join("cmp");
    ok(&["compare", run.to_str().unwrap(), mine.to_str().unwrap(), "--out", cmp.to_str().unwrap()]);
    let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
    assert!(md.contains("imported") && md.contains("mine"), "{md}");
}

#[test]
fn the_original_folder_is_never_written_and_a_failed_import_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, data) = setup(tmp.path());
    let listing = || {
        let mut v: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    let before = listing();
    // Every command that writes refuses the original folder, or a folder inside it, also
    // through a symlink and with --overwrite.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&folder, &link).unwrap();
    let inside = link.join("x");
    for args in [
        vec!["train", "--out", folder.to_str().unwrap(), "--overwrite", "--dataset", "cub200", "--data-root", data.to_str().unwrap(), "--arch", "small", "--image-size", "32"],
        vec!["import", folder.to_str().unwrap(), "--out", inside.to_str().unwrap()],
        vec!["embed", "--run", folder.to_str().unwrap(), "--split", "test", "--data-root", data.to_str().unwrap(), "--out", inside.to_str().unwrap()],
        vec!["export", "--run", folder.to_str().unwrap(), "--out", folder.to_str().unwrap()],
    ] {
        let o = pads(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("never writes into it"), "{args:?}: {err}");
    }
    assert_eq!(listing(), before);

    // A --data-root that does not exist is refused, naming it.
    let run = tmp.path().join("imported");
    let o = pads(&["import", folder.to_str().unwrap(), "--out", run.to_str().unwrap(), "--data-root", "/no/such/root"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--data-root /no/such/root does not exist"));

    // A part that fails half way (a cut distr_progression.pkl) leaves no run behind.
    let pads_fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original/CUB_PADS/distr_progression.pkl");
    let bytes = std::fs::read(pads_fx).unwrap();
    std::fs::write(folder.join("distr_progression.pkl"), &bytes[..bytes.len() / 2]).unwrap();
    let o = pads(&["import", folder.to_str().unwrap(), "--out", run.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("distr_progression.pkl") && err.contains("nothing imported"), "{err}");
    assert!(!run.join("config.toml").exists() && !run.join("checkpoint_best.safetensors").exists());

    // Without CSV_Logs, the checkpoint's history of a 1-epoch run has no test row: compare says so.
    std::fs::remove_file(folder.join("distr_progression.pkl")).unwrap();
    std::fs::remove_dir_all(folder.join("CSV_Logs")).unwrap();
    ok(&["import", folder.to_str().unwrap(), "--out", run.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
    let o = pads(&["compare", run.to_str().unwrap(), "--out", tmp.path().join("cmp").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no evaluated epoch") && err.contains("imported from the original code"), "{err}");

    // A failing import with --overwrite stops before it touches the run it would replace.
    std::fs::write(folder.join("distr_progression.pkl"), &bytes[..bytes.len() / 2]).unwrap();
    let o = pads(&["import", folder.to_str().unwrap(), "--out", run.to_str().unwrap(), "--data-root", data.to_str().unwrap(), "--overwrite"]);
    assert!(!o.status.success());
    assert!(run.join("config.toml").is_file() && run.join("checkpoint_best.safetensors").is_file(), "the earlier import is kept");
    // ... and one into a new folder leaves no folder behind.
    let fresh = tmp.path().join("fresh");
    assert!(!pads(&["import", folder.to_str().unwrap(), "--out", fresh.to_str().unwrap(), "--data-root", data.to_str().unwrap()]).status.success());
    assert!(!fresh.exists());
}
