//! TensorBoard event files decode (framing, CRCs, values); checkpoints survive an interrupted write.
mod common;
use pads::run::tensorboard::EventWriter;
use pads::run::checkpoint::Checkpoint;
use tch::Tensor;

/// CRC32C (Castagnoli), bit by bit: an implementation independent of the one pads uses.
fn crc32c_reference(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

fn masked(data: &[u8]) -> u32 {
    let c = crc32c_reference(data);
    ((c >> 15) | (c << 17)).wrapping_add(0xa282_ead8)
}

use common::protobuf_fields as fields;

#[test]
fn event_file_decodes_with_valid_crcs_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(tmp.path()).unwrap();
    w.scalar("test/recall@1", 3, 0.625).unwrap();
    w.histogram("pads/distribution", 60, 0.1, &[0.5, 0.9, 1.4], &[0.2, 0.5, 0.3]).unwrap();
    w.flush().unwrap();
    let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("events.out.tfevents."));
    let data = std::fs::read(w.path()).unwrap();
    let mut pos = 0;
    let mut events = Vec::new();
    while pos < data.len() {
        let len_bytes = &data[pos..pos + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        assert_eq!(u32::from_le_bytes(data[pos + 8..pos + 12].try_into().unwrap()), masked(len_bytes), "length CRC");
        let payload = &data[pos + 12..pos + 12 + len];
        assert_eq!(u32::from_le_bytes(data[pos + 12 + len..pos + 16 + len].try_into().unwrap()), masked(payload), "data CRC");
        events.push(fields(payload));
        pos += 16 + len;
    }
    assert_eq!(pos, data.len());
    assert_eq!(events.len(), 3);
    // First event: file_version.
    assert!(events[0].iter().any(|(f, _, p)| *f == 3 && p == b"brain.Event:2"));
    // Second: step 3, summary value with tag and simple_value.
    let step = events[1].iter().find(|f| f.0 == 2).unwrap();
    assert_eq!(u64::from_le_bytes(step.2.clone().try_into().unwrap()), 3);
    let summary = &events[1].iter().find(|f| f.0 == 5).unwrap().2;
    let value = fields(&fields(summary)[0].2);
    assert_eq!(value[0].2, b"test/recall@1");
    assert_eq!(f32::from_le_bytes(value[1].2.clone().try_into().unwrap()), 0.625);
    // Third: a histogram with the bucket limits and counts given.
    let summary = &events[2].iter().find(|f| f.0 == 5).unwrap().2;
    let value = fields(&fields(summary)[0].2);
    assert_eq!(value[0].2, b"pads/distribution");
    let histo = fields(&value.iter().find(|f| f.0 == 5).unwrap().2);
    let doubles = |field: u64| -> Vec<f64> {
        let p = &histo.iter().find(|f| f.0 == field).unwrap().2;
        p.chunks(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
    };
    assert_eq!(doubles(1), vec![0.1]);
    assert_eq!(doubles(2), vec![1.4]);
    assert!((doubles(3)[0] - 1.0).abs() < 1e-12);
    assert_eq!(doubles(6), vec![0.5, 0.9, 1.4]);
    assert_eq!(doubles(7), vec![0.2, 0.5, 0.3]);
    // Re-opening appends to the same file.
    drop(w);
    let mut again = EventWriter::create(tmp.path()).unwrap();
    again.scalar("x", 4, 1.0).unwrap();
    again.flush().unwrap();
    assert!(std::fs::read(again.path()).unwrap().len() > data.len());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn an_interrupted_checkpoint_write_leaves_the_previous_one_loadable() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("checkpoint_last.safetensors");
    let mut a = Checkpoint::new(serde_json::json!({"epoch": 1}));
    a.add_group("model", [("w".to_string(), Tensor::from_slice(&[1.0f32, 2.0, 3.0]))]);
    a.save(&path).unwrap();
    // A crash mid-write leaves only a partial temporary file next to the checkpoint.
    let mut b = Checkpoint::new(serde_json::json!({"epoch": 2}));
    b.add_group("model", [("w".to_string(), Tensor::from_slice(&[9.0f32, 9.0, 9.0]))]);
    b.save(&tmp.path().join("b.safetensors")).unwrap();
    let full = std::fs::read(tmp.path().join("b.safetensors")).unwrap();
    std::fs::write(tmp.path().join(".checkpoint_last.safetensors.tmp"), &full[..full.len() / 2]).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(loaded.state["epoch"], 1);
    assert_eq!(Vec::<f32>::try_from(&loaded.group("model")["w"]).unwrap(), vec![1.0, 2.0, 3.0]);
    // The next save goes through and replaces it whole.
    b.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap().state["epoch"], 2);
    // A checkpoint cut short is reported as such, naming the file.
    std::fs::write(&path, &full[..full.len() - 5]).unwrap();
    let err = format!("{:#}", Checkpoint::load(&path).err().unwrap());
    assert!(err.contains("checkpoint_last.safetensors"), "{err}");
}

#[test]
fn count_axes_label_whole_numbers_only() {
    use pads::report::plots::integer_label;
    // Epochs and policy updates are counts: 2, not 2.0; no label between two.
    assert_eq!(integer_label(&2.0), "2");
    assert_eq!(integer_label(&0.0), "0");
    assert_eq!(integer_label(&(3.0 - 1e-12)), "3");
    assert_eq!(integer_label(&2.5), "");
    assert_eq!(integer_label(&12.25), "");
}
