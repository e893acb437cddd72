//! TensorBoard event files, written directly: TFRecord framing (length, masked CRC32C of the
//! length, payload, masked CRC32C of the payload) around hand-encoded `Event` protobufs
//! carrying scalar and histogram summaries. TensorBoard (and `wandb sync`) read these.
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, ((field as u64) << 3) | wire as u64);
}

fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    key(out, field, 1);
    out.extend(v.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend(b);
}

fn packed_doubles(out: &mut Vec<u8>, field: u32, vs: &[f64]) {
    let mut body = Vec::with_capacity(vs.len() * 8);
    for v in vs {
        body.extend(v.to_le_bytes());
    }
    bytes(out, field, &body);
}

/// CRC32C masked as TFRecord requires.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn event(wall_time: f64, step: i64, summary: Option<&[u8]>, file_version: Option<&str>) -> Vec<u8> {
    let mut e = Vec::new();
    double(&mut e, 1, wall_time);
    key(&mut e, 2, 0);
    varint(&mut e, step as u64);
    if let Some(v) = file_version {
        bytes(&mut e, 3, v.as_bytes());
    }
    if let Some(s) = summary {
        bytes(&mut e, 5, s);
    }
    e
}

pub struct EventWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl EventWriter {
    /// Creates `<dir>/events.out.tfevents.<time>.pads` (appends if it exists).
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let existing = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents.")));
        let (path, fresh) = match existing {
            Some(p) => (p, false),
            None => (dir.join(format!("events.out.tfevents.{}.pads", now() as u64)), true),
        };
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut w = EventWriter { path, file };
        if fresh {
            w.record(&event(now(), 0, None, Some("brain.Event:2")))?;
        }
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut buf = Vec::with_capacity(data.len() + 16);
        buf.extend(len);
        buf.extend(masked_crc(&len).to_le_bytes());
        buf.extend(data);
        buf.extend(masked_crc(data).to_le_bytes());
        self.file.write_all(&buf)?;
        Ok(())
    }

    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<()> {
        let mut v = Vec::new();
        bytes(&mut v, 1, tag.as_bytes());
        key(&mut v, 2, 5);
        v.extend((value as f32).to_le_bytes());
        let mut s = Vec::new();
        bytes(&mut s, 1, &v);
        self.record(&event(now(), step, Some(&s), None))
    }

    /// A histogram given as bucket right edges and counts (e.g. the sampling distribution:
    /// edges = the support's right points, counts = bin probabilities).
    pub fn histogram(&mut self, tag: &str, step: i64, left: f64, limits: &[f64], counts: &[f64]) -> Result<()> {
        let num: f64 = counts.iter().sum();
        let centres: Vec<f64> = limits.iter().enumerate().map(|(i, r)| (r + if i == 0 { left } else { limits[i - 1] }) / 2.0).collect();
        let sum: f64 = counts.iter().zip(&centres).map(|(c, x)| c * x).sum();
        let sum_sq: f64 = counts.iter().zip(&centres).map(|(c, x)| c * x * x).sum();
        let mut h = Vec::new();
        double(&mut h, 1, left);
        double(&mut h, 2, *limits.last().unwrap_or(&left));
        double(&mut h, 3, num);
        double(&mut h, 4, sum);
        double(&mut h, 5, sum_sq);
        packed_doubles(&mut h, 6, limits);
        packed_doubles(&mut h, 7, counts);
        let mut v = Vec::new();
        bytes(&mut v, 1, tag.as_bytes());
        bytes(&mut v, 5, &h);
        let mut s = Vec::new();
        bytes(&mut s, 1, &v);
        self.record(&event(now(), step, Some(&s), None))
    }

    /// A text summary (the TensorBoard text plugin renders it as Markdown): a Summary.Value
    /// with plugin metadata `text` and a string tensor (DT_STRING, shape [1]) holding
    /// `markdown`, the layout TensorBoard's own `text` summaries use.
    pub fn text(&mut self, tag: &str, step: i64, markdown: &str) -> Result<()> {
        let mut plugin = Vec::new();
        bytes(&mut plugin, 1, b"text"); // PluginData.plugin_name
        let mut meta = Vec::new();
        bytes(&mut meta, 1, &plugin); // SummaryMetadata.plugin_data
        let mut dim = Vec::new();
        key(&mut dim, 1, 0); // TensorShapeProto.Dim.size
        varint(&mut dim, 1);
        let mut shape = Vec::new();
        bytes(&mut shape, 2, &dim); // TensorShapeProto.dim
        let mut tensor = Vec::new();
        key(&mut tensor, 1, 0); // TensorProto.dtype = DT_STRING (7)
        varint(&mut tensor, 7);
        bytes(&mut tensor, 2, &shape); // TensorProto.tensor_shape
        bytes(&mut tensor, 8, markdown.as_bytes()); // TensorProto.string_val
        let mut v = Vec::new();
        bytes(&mut v, 1, tag.as_bytes()); // Summary.Value.tag
        bytes(&mut v, 9, &meta); // Summary.Value.metadata
        bytes(&mut v, 8, &tensor); // Summary.Value.tensor
        let mut s = Vec::new();
        bytes(&mut s, 1, &v);
        self.record(&event(now(), step, Some(&s), None))
    }

    /// A SessionLog START event at `step` (a resumed run): TensorBoard then drops the
    /// values at steps >= `step` that an interrupted session logged after its last
    /// checkpoint, so the resumed run's values replace them instead of doubling the curves.
    pub fn session_start(&mut self, step: i64) -> Result<()> {
        let mut session = Vec::new();
        key(&mut session, 1, 0); // SessionLog.status = START (1)
        varint(&mut session, 1);
        let mut e = Vec::new();
        double(&mut e, 1, now());
        key(&mut e, 2, 0);
        varint(&mut e, step as u64);
        bytes(&mut e, 6, &session); // Event.session_log
        self.record(&e)
    }

    pub fn flush(&mut self) -> Result<()> {
        self.file.flush()?;
        Ok(())
    }
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
