//! Hostile `--pretrained` files: a few hundred bytes must not take gigabytes. Each file is
//! built here byte by byte (the pickle opcodes torch.save emits) into the zip layout of
//! `torch.save`, then read with the library's reader: a clear error naming the limit, in
//! bounded memory; the well-formed twin of each loads.
use pads::model::pth::{read_pth, MAX_VALUES};
use std::io::Write;
use std::path::Path;

/// A zip in torch.save's layout: archive/data.pkl and archive/data/<key> entries.
fn write_archive(path: &Path, pickle: &[u8], storages: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("archive/data.pkl", opts).unwrap();
    zip.write_all(pickle).unwrap();
    for (key, bytes) in storages {
        zip.start_file(format!("archive/data/{key}"), opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn unicode(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend((s.len() as u32).to_le_bytes());
    v.extend(s.as_bytes());
    v
}

fn ints_tuple(values: &[i32]) -> Vec<u8> {
    let mut v = vec![b'('];
    for x in values {
        v.push(b'J');
        v.extend(x.to_le_bytes());
    }
    v.push(b't');
    v
}

/// `{"w": _rebuild_tensor_v2(storage "0" (float), 0, size, stride, False, OrderedDict())}`.
fn one_tensor_pickle(size: &[i32], stride: &[i32]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'}'];
    p.extend(unicode("w"));
    p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n");
    p.push(b'(');
    p.push(b'(');
    p.extend(unicode("storage"));
    p.extend(b"ctorch\nFloatStorage\n");
    p.extend(unicode("0"));
    p.extend(unicode("cpu"));
    p.extend([b'K', 4]);
    p.push(b't');
    p.push(b'Q');
    p.extend([b'K', 0]);
    p.extend(ints_tuple(size));
    p.extend(ints_tuple(stride));
    p.push(0x89);
    p.extend(b"ccollections\nOrderedDict\n");
    p.push(b')');
    p.push(b'R');
    p.push(b't');
    p.push(b'R');
    p.push(b's');
    p.push(b'.');
    p
}

fn floats(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

#[test]
fn the_well_formed_file_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("ok.pth");
    write_archive(&f, &one_tensor_pickle(&[2, 2], &[2, 1]), &[("0", floats(4))]);
    let t = read_pth(&f).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].0, "w");
    assert_eq!(Vec::<f32>::try_from(t[0].1.flatten(0, -1)).unwrap(), vec![0.0, 1.0, 2.0, 3.0]);
    // A transposed layout (strides 1, 2) is fine too.
    write_archive(&f, &one_tensor_pickle(&[2, 2], &[1, 2]), &[("0", floats(4))]);
    assert_eq!(Vec::<f32>::try_from(read_pth(&f).unwrap()[0].1.flatten(0, -1)).unwrap(), vec![0.0, 2.0, 1.0, 3.0]);
}

#[test]
fn a_memo_reused_in_nested_tuples_is_refused_before_it_grows() {
    // (x, x, x) of (x, x, x) of ... 40 times: 3^40 values if each memo read were copied.
    let mut p = vec![0x80, 2, b')', b'q', 0];
    for _ in 0..40 {
        p.extend([b'h', 0, b'h', 0, b'h', 0, 0x87, b'q', 0]);
    }
    p.push(b'.');
    assert!(p.len() < 400, "a few hundred bytes: {}", p.len());
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("bomb.pth");
    write_archive(&f, &p, &[]);
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains(&format!("more than {MAX_VALUES} values")) && err.contains("bomb.pth"), "{err}");
}

#[test]
fn zero_or_overlapping_strides_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("stride.pth");
    // 100000 x 100000 floats (40 GB) over a 4-value storage with stride (0, 0).
    write_archive(&f, &one_tensor_pickle(&[100_000, 100_000], &[0, 0]), &[("0", floats(4))]);
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains("w: stride [0, 0]") && err.contains("overlap"), "{err}");
    // Overlapping rows (stride 1 along a dimension of 3 under a stride of 2).
    write_archive(&f, &one_tensor_pickle(&[2, 3], &[2, 1]), &[("0", floats(6))]);
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains("overlap"), "{err}");
}

#[test]
fn a_storage_larger_than_its_tensors_need_is_refused_after_reading_just_past_the_need() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("big.pth");
    // 64 MiB of zeros compress to about 64 KiB; the tensor needs 16 bytes.
    write_archive(&f, &one_tensor_pickle(&[4], &[1]), &[("0", vec![0u8; 64 << 20])]);
    assert!(std::fs::metadata(&f).unwrap().len() < 1 << 20);
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains("storage 0 holds more than the 16 bytes its tensors need"), "{err}");
    // A storage shorter than its tensor is named too.
    write_archive(&f, &one_tensor_pickle(&[4], &[1]), &[("0", floats(2))]);
    let err = format!("{:#}", read_pth(&f).unwrap_err());
    assert!(err.contains("do not fit its storage of 2 values"), "{err}");
}
