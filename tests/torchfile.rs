//! The pickle reader on files written the way the original PADS code writes them
//! (bench/reference/make_torchfile_fixtures.py, run here into a temporary folder): hypa.pkl
//! (argparse.Namespace, protocols 0 / 2 / default, numpy 1 and 2 spellings) and
//! checkpoint_Class.pth.tar in both torch.save formats, against what Python says they hold
//! (expected.json); every allow-listed kind of value (zoo.pth); and hostile files built by
//! Python or byte by byte: code that would run is never run, a pre-1.6 file cut short at
//! every length is an error, declared sizes beyond the file are refused before allocating.
mod common;
use pads::model::pth::read_pth;
use pads::model::torchfile::{read_torch_file, ArrayData, Format, Value};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

const SCRIPT: &str = include_str!("../bench/reference/make_torchfile_fixtures.py");

fn fixtures() -> (tempfile::TempDir, Json) {
    common::python_fixtures(SCRIPT, "expected.json")
}

fn f64s(t: &tch::Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).flatten(0, -1)).unwrap()
}

/// Every field of `opt` (an argparse.Namespace) equals the JSON Python wrote.
fn check_opt(opt: &Value, want: &Json, what: &str) {
    let o = opt.as_object().unwrap_or_else(|e| panic!("{what}: {e:#}"));
    assert_eq!(o.class(), "argparse.Namespace", "{what}");
    let want = want.as_object().unwrap();
    assert_eq!(opt.keys().len(), want.len(), "{what}: {:?}", opt.keys());
    for (k, w) in want {
        let v = opt.req(k).unwrap_or_else(|e| panic!("{what}.{k}: {e:#}"));
        match w {
            Json::String(s) => match v {
                Value::Device(d) => assert_eq!(d, s, "{what}.{k}"),
                _ => assert_eq!(v.as_str().unwrap(), s, "{what}.{k}"),
            },
            Json::Bool(b) => assert_eq!(v.as_bool().unwrap(), *b, "{what}.{k}"),
            Json::Number(n) if n.is_i64() => assert_eq!(v.as_i64().unwrap(), n.as_i64().unwrap(), "{what}.{k}"),
            Json::Number(n) => assert_eq!(v.as_f64().unwrap(), n.as_f64().unwrap(), "{what}.{k}"),
            Json::Array(items) => {
                let got = v.as_list().unwrap();
                assert_eq!(got.len(), items.len(), "{what}.{k}");
                for (g, i) in got.iter().zip(items) {
                    match (g, i) {
                        (Value::Device(d), Json::String(s)) => assert_eq!(d, s),
                        (g, i) => assert_eq!(g.as_i64().unwrap(), i.as_i64().unwrap(), "{what}.{k}"),
                    }
                }
            }
            other => panic!("{what}.{k}: unexpected {other}"),
        }
    }
}

#[test]
fn hypa_pkl_reads_as_a_namespace_in_every_protocol_and_numpy_spelling() {
    let (tmp, want) = fixtures();
    for f in ["hypa.pkl", "hypa_p0.pkl", "hypa_p2.pkl"] {
        let file = read_torch_file(&tmp.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        assert_eq!(file.format, Format::Pickle, "{f}");
        check_opt(&file.root, &want["opt"], f);
        assert!(matches!(file.req("device").unwrap(), Value::Device(d) if d == "cuda"), "{f}");
    }
    // numpy 1.x writes numpy.core.multiarray.scalar, numpy 2 numpy._core: both read.
    let ns = read_torch_file(&tmp.path().join("hypa_np1.pkl")).unwrap();
    assert_eq!(ns.req("x").unwrap().as_f64().unwrap(), 0.25);
    assert_eq!(ns.req("n").unwrap().as_i64().unwrap(), -3);
    assert!(ns.req("b").unwrap().as_bool().unwrap());
    let err = format!("{:#}", ns.req("missing").unwrap_err());
    assert!(err.contains("hypa_np1.pkl") && err.contains("no 'missing'") && err.contains("x, n, b"), "{err}");
}

#[test]
fn the_original_checkpoint_reads_whole_in_both_formats() {
    let (tmp, want) = fixtures();
    for (f, format) in [("checkpoint_Class.pth.tar", Format::Zip), ("checkpoint_legacy.pth.tar", Format::Legacy)] {
        let file = read_torch_file(&tmp.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        assert_eq!(file.format, format, "{f}");
        // state_dict: every tensor, shape and values as Python saved them (layer_blocks.* too).
        let sd = file.req("state_dict").unwrap().as_dict().unwrap();
        let want_sd = want["state_dict"].as_object().unwrap();
        assert_eq!(sd.len(), want_sd.len(), "{f}");
        for (k, v) in sd {
            let k = k.as_str().unwrap();
            let t = v.as_tensor().unwrap();
            let w = &want_sd[k];
            let shape: Vec<i64> = w["shape"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
            assert_eq!(t.size(), shape, "{f} {k}");
            let values: Vec<f64> = w["values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            assert_eq!(f64s(t), values, "{f} {k}");
        }
        assert!(sd.iter().any(|(k, _)| k.as_str().unwrap() == "layer_blocks.0.0.weight"), "{f}");
        check_opt(file.req("opt").unwrap(), &want["opt"], f);
        // progress: dict of auxiliaries.Progress_Saver, groups -> segment -> content / saved_idx.
        let progress = file.req("progress").unwrap();
        for (name, groups) in want["progress"].as_object().unwrap() {
            let saver = progress.req(name).unwrap();
            assert_eq!(saver.as_object().unwrap().class(), "auxiliaries.Progress_Saver");
            for (g, segs) in groups.as_object().unwrap() {
                for (s, d) in segs.as_object().unwrap() {
                    let seg = saver.req("groups").unwrap().req(g).unwrap().req(s).unwrap();
                    let content: Vec<f64> = seg.req("content").unwrap().as_list().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                    let wc: Vec<f64> = d["content"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
                    assert_eq!(content, wc, "{f} {name}/{g}/{s}");
                    assert_eq!(seg.req("saved_idx").unwrap().as_i64().unwrap(), d["saved_idx"].as_i64().unwrap());
                }
            }
        }
        // aux: the policy's state dict (an OrderedDict).
        let aux = file.req("aux").unwrap().as_dict().unwrap();
        for (k, v) in aux {
            let w: Vec<f64> = want["aux"][k.as_str().unwrap()].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let got = f64s(v.as_tensor().unwrap());
            assert!(got.iter().zip(&w).all(|(a, b)| (a - b).abs() < 1e-6) && got.len() == w.len(), "{f}");
        }
        // read_pth finds the state dict under 'state_dict'.
        assert_eq!(read_pth(&tmp.path().join(f)).unwrap().len(), want_sd.len(), "{f}");
    }
}

#[test]
fn every_allowed_kind_of_value_reads_by_its_meaning_in_both_formats() {
    let (tmp, _) = fixtures();
    for f in ["zoo.pth", "zoo_legacy.pth"] {
        let z = read_torch_file(&tmp.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        let get = |k: &str| z.req(k).unwrap_or_else(|e| panic!("{f} {k}: {e:#}"));
        let od = get("od").as_dict().unwrap();
        assert_eq!((od[0].0.as_str().unwrap(), od[0].1.as_i64().unwrap(), od[1].0.as_str().unwrap()), ("b", 1, "a"), "{f}");
        assert_eq!(get("set").as_list().unwrap()[0].as_i64().unwrap(), 3);
        assert_eq!(get("frozenset").as_list().unwrap()[0].as_i64().unwrap(), 4);
        assert!(matches!(get("complex"), Value::Complex(a, b) if *a == 1.5 && *b == -2.0), "{f}");
        assert!(matches!(get("c128"), Value::Complex(a, b) if *a == 1.0 && *b == 2.0), "{f}");
        assert!(matches!(get("cpu"), Value::Device(d) if d == "cpu"));
        assert!(matches!(get("cuda1"), Value::Device(d) if d == "cuda:1"));
        let Value::Array(arr) = get("arr") else { panic!("{f}: arr") };
        assert_eq!((arr.dtype.as_str(), arr.shape.clone()), ("<f4", vec![2, 3]));
        assert_eq!(arr.to_f64().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let Value::Array(be) = get("arr_be") else { panic!("{f}: arr_be") };
        assert_eq!(be.to_f64().unwrap(), vec![1.0, -2.0], "{f}: big-endian int32");
        assert!(matches!(be.data, ArrayData::Bytes(_)));
        let size: Vec<i64> = get("size").as_list().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(size, vec![2, 3]);
        assert_eq!(f64s(get("param").as_tensor().unwrap()), vec![1.0; 4]);
        assert!(matches!(get("bytes"), Value::Bytes(b) if b == &[b'a', b'b', 0, 255]), "{f}: {:?}", get("bytes"));
        let thing = get("thing");
        assert_eq!(thing.as_object().unwrap().class(), "__main__.Thing");
        assert_eq!(thing.req("name").unwrap().as_str().unwrap(), "thing");
        assert_eq!(thing.req("values").unwrap().as_list().unwrap()[1].as_f64().unwrap(), 2.5);
        assert!(matches!(get("big"), Value::BigInt(b) if b[8] == 64), "2**70: {:?}", get("big"));
        assert!(get("none").is_none() && get("flag").as_bool().unwrap());
        // A list memoised empty and filled later: both references read it filled.
        for k in ["shared_a", "shared_b"] {
            assert_eq!(get(k).as_list().unwrap().len(), 3, "{f} {k}");
        }
        assert_eq!(f64s(get("x").as_tensor().unwrap()), (0..10).map(|i| i as f64).collect::<Vec<_>>());
        assert_eq!(f64s(get("view").as_tensor().unwrap()), vec![2.0, 3.0, 4.0], "{f}: a view of x's storage");
        assert_eq!(f64s(get("half").as_tensor().unwrap()), vec![0.5, -2.0]);
        assert_eq!(f64s(get("long").as_tensor().unwrap()), vec![-1.0, (1u64 << 40) as f64]);
        assert_eq!(get("f16").as_f64().unwrap(), 0.5);
        assert_eq!(get("i8").as_i64().unwrap(), -5);
    }
}

/// Files whose loading in Python runs `touch CANARY` via os.system / builtins.eval /
/// subprocess, placed under the entry `key` (or as the whole root), in each format.
const HOSTILE: &str = r#"
import sys, os, pickle, torch
out, canary = sys.argv[1], sys.argv[2]
class Sys:
    def __reduce__(self): return (os.system, ('touch ' + canary,))
class Eval:
    def __reduce__(self): return (eval, ("__import__('os').system('touch " + canary + "')",))
class Popen:
    def __reduce__(self):
        import subprocess
        return (subprocess.Popen, (['touch', canary],))
for name, cls in [('system', Sys), ('eval', Eval), ('popen', Popen)]:
    for key in ['state_dict', 'progress']:
        obj = {'state_dict': {'w': torch.ones(2)}, 'progress': {'x': 1}, 'opt': None}
        obj[key] = cls()
        torch.save(obj, f'{out}/{name}_{key}_zip.pth.tar')
        torch.save(obj, f'{out}/{name}_{key}_legacy.pth.tar', _use_new_zipfile_serialization=False)
    with open(f'{out}/{name}.pkl', 'wb') as f:
        pickle.dump(cls(), f, protocol=2)
"#;

#[test]
fn code_in_a_pickle_is_named_and_never_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    // The files do run code when Python loads them: proven with a first canary.
    let proof = tmp.path().join("proof");
    common::run_python(HOSTILE, &[dir, proof.to_str().unwrap()]);
    common::run_python("import sys, pickle; pickle.load(open(sys.argv[1], 'rb'))", &[&format!("{dir}/system.pkl")]);
    assert!(proof.exists(), "the hostile pickle runs its command under Python");
    let canary: PathBuf = tmp.path().join("canary");
    let cdir = tempfile::tempdir().unwrap();
    common::run_python(HOSTILE, &[cdir.path().to_str().unwrap(), canary.to_str().unwrap()]);
    let p = |f: &str| cdir.path().join(f);
    for (name, global) in [("system", "os.system"), ("eval", "builtins.eval"), ("popen", "subprocess.Popen")] {
        let global = if name == "system" { std::env::consts::OS.eq("windows").then_some("nt.system").unwrap_or("posix.system") } else { global };
        for fmt in ["zip", "legacy"] {
            // Needed ('state_dict'): an error naming the callable and the entry.
            let f = p(&format!("{name}_state_dict_{fmt}.pth.tar"));
            let err = format!("{:#}", read_pth(&f).unwrap_err());
            assert!(
                err.contains(&f.display().to_string()) && err.contains(&format!("needs the callable {global} to build 'state_dict'")) && err.contains("never runs code"),
                "{err}"
            );
            // Not needed ('progress'): the weights still read; reading 'progress' is the error.
            let f = p(&format!("{name}_progress_{fmt}.pth.tar"));
            assert_eq!(read_pth(&f).unwrap().len(), 1);
            let file = read_torch_file(&f).unwrap();
            let err = format!("{:#}", file.req("progress").unwrap_err());
            assert!(err.contains(&format!("needs the callable {global} to build 'progress'")), "{err}");
        }
        let file = read_torch_file(&p(&format!("{name}.pkl"))).unwrap();
        let err = format!("{:#}", file.req("x").unwrap_err());
        assert!(err.contains(&format!("needs the callable {global}")), "{err}");
    }
    assert!(!canary.exists(), "pads ran code from a file");
}

// ------------------------------------------------------- pre-1.6 files built byte by byte

fn pickle(body: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    p.extend(body);
    p.push(b'.');
    p
}

fn unicode(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend((s.len() as u32).to_le_bytes());
    v.extend(s.as_bytes());
    v
}

/// A pre-1.6 file holding `{"w": float tensor of `size`}` over storage "0", the pickle
/// declaring `declared` elements and the file `count` followed by `data`.
fn legacy_file(size: i32, declared: i64, count: u64, data: &[u8]) -> Vec<u8> {
    let mut out = pickle(&[&[0x8a, 10][..], &0x1950A86A20F9469CFC6Cu128.to_le_bytes()[..10]].concat());
    out.extend(pickle(&[b'M', 0xe9, 0x03]));
    out.extend(pickle(b"}"));
    let mut m = vec![b'}'];
    m.extend(unicode("w"));
    m.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
    m.extend(unicode("storage"));
    m.extend(b"ctorch\nFloatStorage\n");
    m.extend(unicode("0"));
    m.extend(unicode("cpu"));
    m.push(0x8a);
    m.push(8);
    m.extend(declared.to_le_bytes());
    m.extend(b"NtQK\x00(J");
    m.extend(size.to_le_bytes());
    m.extend(b"t(K\x01t\x89ccollections\nOrderedDict\n)RtRs");
    out.extend(pickle(&m));
    let mut keys = vec![b'('];
    keys.extend(unicode("0"));
    keys.push(b'l');
    out.extend(pickle(&keys));
    out.extend(count.to_le_bytes());
    out.extend(data);
    out
}

fn floats(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, bytes).unwrap();
    f
}

#[test]
fn a_legacy_file_built_by_hand_reads_and_its_lies_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = write(tmp.path(), "ok.pth", &legacy_file(4, 4, 4, &floats(4)));
    let t = read_pth(&ok).unwrap();
    assert_eq!((t[0].0.as_str(), f64s(&t[0].1)), ("w", vec![0.0, 1.0, 2.0, 3.0]));
    // A storage shorter than its tensor.
    let f = write(tmp.path(), "short.pth", &legacy_file(4, 2, 2, &floats(2)));
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains("short.pth") && err.contains("w: size [4]") && err.contains("do not fit its storage of 2 values"), "{err}");
    // A huge declared count in a tiny file: refused before any allocation.
    let f = write(tmp.path(), "huge.pth", &legacy_file(4, 1 << 60, 1 << 60, &floats(4)));
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains("storage 0 declares 1152921504606846976 elements") && err.contains("the file holds only 16 more bytes"), "{err}");
    // The file's count disagreeing with the pickle's.
    let f = write(tmp.path(), "count.pth", &legacy_file(4, 4, 3, &floats(4)));
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains("the file says 3 elements, the pickle declared 4"), "{err}");
}

#[test]
fn a_legacy_file_cut_short_at_any_length_is_an_error() {
    let (tmp, _) = fixtures();
    for name in ["checkpoint_legacy.pth.tar", "zoo_legacy.pth"] {
        let full = std::fs::read(tmp.path().join(name)).unwrap();
        read_torch_file(&tmp.path().join(name)).unwrap();
        let cut = tmp.path().join("cut.pth");
        common::assert_every_prefix_errors(&full, &cut, full.len(), read_torch_file);
    }
}
