//! A run records what it trained and tested on (splits.json: class names, image counts, a
//! fingerprint of the files); `pads eval` and `pads embed --split` on other data say what
//! differs; train/test class overlap is flagged before training.
mod common;
use common::pads_bin;
use std::path::Path;

fn pads(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(pads_bin()).args(args).env("PADS_LOG", "warn").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn eval_and_embed_on_other_data_say_what_differs_from_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ok, _, err) = pads(&["synth", "--out", &s(&root.join("synthetic")), "--classes", "8", "--per-class", "6", "--image-size", "16", "--seed", "0"]);
    assert!(ok, "{err}");
    let run = tmp.path().join("run");
    let (ok, _, err) = pads(&[
        "train", "--out", &s(&run), "--dataset", "synthetic", "--data-root", &s(&root), "--arch", "small", "--image-size", "16", "--embed-dim", "8",
        "--bs", "8", "--samples-per-class", "2", "--n-epochs", "1", "--sampling", "distance", "--num-workers", "0", "--quiet",
    ]);
    assert!(ok, "{err}");
    let rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("splits.json")).unwrap()).unwrap();
    let names: Vec<&str> = rec.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["train", "test"]);
    assert_eq!((rec[1]["classes"].as_array().unwrap().len(), rec[1]["images"].as_u64()), (4, Some(24)));
    // The same data, moved: nothing to say.
    let copy = tmp.path().join("copy");
    copy_dir(&root, &copy);
    let (ok, _, err) = pads(&["eval", "--run", &s(&run), "--data-root", &s(&copy)]);
    assert!(ok && !err.contains("differs"), "{err}");
    // A test class deleted from the copy: on this layout a training class moves into test.
    let mut classes: Vec<_> = std::fs::read_dir(copy.join("synthetic/images")).unwrap().map(|e| e.unwrap().path()).collect();
    classes.sort();
    std::fs::remove_dir_all(classes.last().unwrap()).unwrap();
    let (ok, _, err) = pads(&["eval", "--run", &s(&run), "--data-root", &s(&copy)]);
    assert!(ok && err.contains("test split differs from the run's") && err.contains("class(es) gone") && err.contains("not the run's test split"), "{err}");
    let emb = tmp.path().join("emb");
    let (ok, _, err) = pads(&["embed", "--run", &s(&run), "--data-root", &s(&copy), "--split", "test", "--out", &s(&emb)]);
    assert!(ok && err.contains("test split differs from the run's"), "{err}");
    // Same classes and counts, other files (an image replaced by a longer one).
    let copy2 = tmp.path().join("copy2");
    copy_dir(&root, &copy2);
    let class = classes[classes.len() - 2].file_name().unwrap().to_owned();
    let dir = copy2.join("synthetic/images").join(class);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut bytes = std::fs::read(&files[1]).unwrap();
    bytes.extend_from_slice(b"trailing");
    std::fs::write(&files[0], bytes).unwrap();
    let (ok, _, err) = pads(&["eval", "--run", &s(&run), "--data-root", &s(&copy2)]);
    assert!(ok && err.contains("other files"), "{err}");
}

#[test]
fn train_and_test_classes_with_the_same_names_are_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("folder");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ok, _, err) = pads(&["synth", "--out", &s(&tmp.path().join("syn")), "--classes", "4", "--per-class", "6", "--image-size", "16", "--seed", "0"]);
    assert!(ok, "{err}");
    copy_dir(&tmp.path().join("syn/images"), &root);
    // --test-root = --data-root: the test classes are the training classes.
    let (_, out, err) = pads(&["data", "check", "--dataset", "folder", "--data-root", &s(&root), "--test-root", &s(&root), "--no-decode", "--bs", "4", "--samples-per-class", "2", "--sampling", "distance"]);
    let text = format!("{out}{err}");
    assert!(text.contains("4 class name(s) are in both the train and the test split"), "{text}");
}
