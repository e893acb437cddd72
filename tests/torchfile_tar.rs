//! torch.save's oldest format (a tar archive, PyTorch < 0.1.10; torchvision's
//! `resnet50-19c8e357.pth` is believed to be one). bench/reference/make_tar_fixture.py,
//! run here into a temporary folder, writes such files byte by byte following torch 2.11's
//! own reader and proves them right with `torch.load`: pads reads the same names, dtypes,
//! shapes and values (a strided view with an offset, a storage view, an int64 tensor, a 0-d
//! tensor), through `read_torch_file`, `read_pth` and `--pretrained`'s `read_state_dict`;
//! hostile files are errors, never panics, never code run.
mod common;
use pads::model::import::read_state_dict;
use pads::model::pth::read_pth;
use pads::model::torchfile::{read_torch_file, sniff, Format};
use serde_json::Value as Json;

const SCRIPT: &str = include_str!("../bench/reference/make_tar_fixture.py");

fn fixtures() -> (tempfile::TempDir, Json) {
    common::python_fixtures(SCRIPT, "tar_expected.json")
}

/// `t` has the dtype, shape and values Python computed for it.
fn check(name: &str, t: &tch::Tensor, want: &Json) {
    let kind = match want["dtype"].as_str().unwrap() {
        "float32" => tch::Kind::Float,
        "float64" => tch::Kind::Double,
        "int64" => tch::Kind::Int64,
        other => panic!("{other}"),
    };
    assert_eq!(t.kind(), kind, "{name}");
    let shape: Vec<i64> = want["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(t.size(), shape, "{name}");
    let flat = t.flatten(0, -1);
    let values = want["values"].as_array().unwrap();
    if kind == tch::Kind::Int64 {
        let got = Vec::<i64>::try_from(&flat).unwrap();
        assert_eq!(got, values.iter().map(|v| v.as_i64().unwrap()).collect::<Vec<_>>(), "{name}");
    } else {
        let got = Vec::<f64>::try_from(flat.to_kind(tch::Kind::Double)).unwrap();
        assert_eq!(got, values.iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn a_tar_file_reads_as_torch_load_reads_it() {
    let (tmp, want) = fixtures();
    let path = tmp.path().join("tar_state.pth");
    let head = std::fs::read(&path).unwrap();
    assert_eq!(sniff(&head[..512]).unwrap(), Format::Tar);
    let file = read_torch_file(&path).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(file.format, Format::Tar);
    let names: Vec<String> = want["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    assert_eq!(file.root.keys(), names, "names in file order");
    for (name, w) in want["tensors"].as_object().unwrap() {
        check(name, file.req(name).unwrap().as_tensor().unwrap(), w);
    }
    // The state-dict reader and --pretrained's reader take it too (same tensors).
    let sd = read_pth(&path).unwrap();
    assert_eq!(sd.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), names);
    for (name, t) in &sd {
        check(name, t, &want["tensors"][name]);
    }
    let sd = read_state_dict(&path).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(sd.len(), names.len());
    check("a.transposed", &sd["a.transposed"], &want["tensors"]["a.transposed"]);
}

#[test]
fn a_tar_file_cut_short_at_any_length_is_an_error() {
    let (tmp, want) = fixtures();
    let full = std::fs::read(tmp.path().join("tar_state.pth")).unwrap();
    let data_end = want["data_end"].as_u64().unwrap() as usize;
    assert!(data_end > 4 * 512 && data_end < full.len());
    let cut = tmp.path().join("cut.pth");
    // Past the last member's data only the tar's zero padding is missing: torch's reader
    // (Python's tarfile) reads such a file too.
    common::assert_every_prefix_errors(&full, &cut, data_end, read_torch_file);
    // A cut inside a member says which member and that the file is cut short.
    std::fs::write(&cut, &full[..data_end - 10]).unwrap();
    let err = format!("{:#}", read_torch_file(&cut).unwrap_err());
    assert!(err.contains("cut.pth") && err.contains("'storages' declares") && err.contains("cut short"), "{err}");
}

#[test]
fn a_corrupted_tar_header_is_an_error() {
    let (tmp, _) = fixtures();
    let mut bytes = std::fs::read(tmp.path().join("tar_state.pth")).unwrap();
    bytes[3] ^= 0x20; // inside the first header's name: the checksum no longer matches
    let bad = tmp.path().join("bad.pth");
    std::fs::write(&bad, &bytes).unwrap();
    let err = format!("{:#}", read_torch_file(&bad).unwrap_err());
    assert!(err.contains("bad.pth") && err.contains("checksum"), "{err}");
}

#[test]
fn a_tar_storage_declaring_more_than_its_member_is_refused_before_allocating() {
    let (tmp, _) = fixtures();
    // 2^40 floats (4 TiB): reading it would abort the process, so an error proves the check.
    let err = format!("{:#}", read_torch_file(&tmp.path().join("tar_oversize.pth")).unwrap_err());
    assert!(err.contains("tar_oversize.pth") && err.contains("storage 101 declares 1099511627776 elements"), "{err}");
    let err = format!("{:#}", read_torch_file(&tmp.path().join("tar_tensor_beyond.pth")).unwrap_err());
    assert!(err.contains("tensor 201") && err.contains("do not fit its storage of 24 values"), "{err}");
}

#[test]
fn os_system_in_a_tar_main_pickle_is_named_and_never_run() {
    let (tmp, want) = fixtures();
    let path = tmp.path().join("tar_os_system.pth");
    let file = read_torch_file(&path).unwrap_or_else(|e| panic!("{e:#}"));
    check("a.weight", file.req("a.weight").unwrap().as_tensor().unwrap(), &want["tensors"]["a.weight"]);
    let err = format!("{:#}", file.req("evil").unwrap_err());
    assert!(err.contains("os.system") || err.contains("posix.system"), "{err}");
    assert!(err.contains("never runs code"), "{err}");
    let err = format!("{:#}", read_pth(&path).unwrap_err());
    assert!(err.contains("tar_os_system.pth") && (err.contains("os.system") || err.contains("posix.system")), "{err}");
    assert!(!tmp.path().join("PWNED").exists(), "the command ran");
}
