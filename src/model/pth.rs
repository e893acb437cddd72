//! Reader for `torch.save(state_dict)` files (the zip format torchvision's ImageNet weights
//! ship in): a small pickle machine that understands the opcodes torch.save emits and
//! rebuilds each tensor from its storage record (`archive/data/<key>`). libtorch's own
//! loader expects TorchScript archives and rejects plain pickled dicts.
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

#[derive(Debug, Clone)]
#[allow(dead_code)] // scalars are parsed for completeness, only ints are read
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    /// The result of calling a global (REDUCE / NEWOBJ) we do not evaluate further.
    Call(Box<Value>, Vec<Value>),
    Persistent(Box<Value>),
    Mark,
}

fn global_name(v: &Value) -> Option<(&str, &str)> {
    match v {
        Value::Global(m, n) => Some((m.as_str(), n.as_str())),
        _ => None,
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.pos + n > self.data.len() {
            bail!("pickle ends early");
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<String> {
        let start = self.pos;
        while self.pos < self.data.len() && self.data[self.pos] != b'\n' {
            self.pos += 1;
        }
        let s = String::from_utf8_lossy(&self.data[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(s)
    }
    fn pop(&mut self) -> Result<Value> {
        self.stack.pop().context("pickle stack underflow")
    }
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let at = self.stack.iter().rposition(|v| matches!(v, Value::Mark)).context("pickle mark missing")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }
    fn top(&mut self) -> Result<&mut Value> {
        self.stack.last_mut().context("pickle stack empty")
    }

    fn run(mut self) -> Result<Value> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Value::Mark),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                    self.stack.push(Value::Int(v as i64))
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64))
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into().unwrap());
                    self.stack.push(Value::Int(v as i64))
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, b) in bytes.iter().enumerate().take(8) {
                        v |= (*b as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v))
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.stack.push(Value::Float(v))
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.stack.push(Value::Str(s))
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.stack.push(Value::Str(s))
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.stack.push(Value::Str(s))
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.stack.push(Value::Str(s))
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => bail!("STACK_GLOBAL expects two strings"),
                    }
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'r' => {
                    let k = self.u32()?;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    self.stack.push(self.memo.get(&k).context("pickle memo miss")?.clone())
                }
                b'j' => {
                    let k = self.u32()?;
                    self.stack.push(self.memo.get(&k).context("pickle memo miss")?.clone())
                }
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items))
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        bail!("pickle dict with an odd number of items");
                    }
                    let pairs = items.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
                    self.stack.push(Value::Dict(pairs))
                }
                0x85 => {
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(vec![a]))
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(vec![a, b]))
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(vec![a, b, c]))
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Value::List(l) = self.top()? {
                        l.push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Value::List(l) = self.top()? {
                        l.extend(items);
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    if let Value::Dict(d) = self.top()? {
                        d.push((k, v));
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        bail!("pickle SETITEMS with an odd number of items");
                    }
                    if let Value::Dict(d) = self.top()? {
                        d.extend(items.chunks(2).map(|c| (c[0].clone(), c[1].clone())));
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let args = match args {
                        Value::Tuple(a) => a,
                        other => vec![other],
                    };
                    // OrderedDict() is the container of a state dict: keep it a dict.
                    let v = match global_name(&func) {
                        Some(("collections", "OrderedDict")) => Value::Dict(Vec::new()),
                        _ => Value::Call(Box::new(func), args),
                    };
                    self.stack.push(v)
                }
                b'b' => {
                    self.pop()?; // BUILD: object state (e.g. `_metadata`), not needed
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(Value::Persistent(Box::new(pid)))
                }
                other => bail!("unsupported pickle opcode 0x{other:02x} at byte {}", self.pos - 1),
            }
        }
    }
}

fn storage_kind(name: &str) -> Result<Kind> {
    Ok(match name {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        other => bail!("unsupported storage type {other}"),
    })
}

fn ints(v: &Value) -> Result<Vec<i64>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(i) => Ok(*i),
                _ => bail!("expected an integer in a shape"),
            })
            .collect(),
        _ => bail!("expected a shape tuple"),
    }
}

/// Keys under which training checkpoints keep the model's state dict, tried in this order.
pub const CONTAINER_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

fn is_tensor(v: &Value) -> bool {
    matches!(v, Value::Call(f, _) if matches!(global_name(f), Some(("torch._utils", "_rebuild_tensor_v2")) | Some(("torch._utils", "_rebuild_tensor"))))
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Tuple(_) | Value::List(_) => "list",
        Value::Dict(_) => "dict",
        v if is_tensor(v) => "tensor",
        _ => "object",
    }
}

/// The dict of tensors in a pickle root: the root itself when it holds tensors, else the
/// first of `CONTAINER_KEYS` holding one (searched again inside it, as in
/// `{"model": {"state_dict": ...}}`). Returns the items and the path of keys taken.
fn find_state_dict(root: &Value, depth: usize) -> Option<(&Vec<(Value, Value)>, Vec<String>)> {
    let Value::Dict(items) = root else { return None };
    if items.iter().any(|(_, v)| is_tensor(v)) {
        return Some((items, Vec::new()));
    }
    if depth == 0 {
        return None;
    }
    for key in CONTAINER_KEYS {
        if let Some((_, v)) = items.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)) {
            if let Some((found, mut path)) = find_state_dict(v, depth - 1) {
                path.insert(0, key.to_string());
                return Some((found, path));
            }
        }
    }
    None
}

/// Reads every tensor of a `torch.save(state_dict)` file, or of the state dict inside a
/// training checkpoint (`{"state_dict": ..., "epoch": 3}`; keys `CONTAINER_KEYS`; the
/// unwrapping is announced with a warning). Anything else is an error naming the
/// top-level entries found and what was expected.
pub fn read_pth(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a torch.save zip archive (saved with PyTorch >= 1.6?)", path.display()))?;
    let names: Vec<String> = zip.file_names().map(String::from).collect();
    let pkl_name = names.iter().find(|n| n.ends_with("data.pkl")).context("archive has no data.pkl")?.clone();
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)?.read_to_end(&mut pkl)?;
    let root = Machine { data: &pkl, pos: 0, stack: Vec::new(), memo: HashMap::new() }.run()?;
    let Some((items, taken)) = find_state_dict(&root, 2) else {
        let found: Vec<String> = match &root {
            Value::Dict(items) => items
                .iter()
                .map(|(k, v)| match k {
                    Value::Str(s) => format!("{s} ({})", describe(v)),
                    other => format!("{} key ({})", describe(other), describe(v)),
                })
                .collect(),
            other => vec![format!("a {} instead of a dict", describe(other))],
        };
        bail!(
            "no tensors found; top-level entries: [{}]; expected a state dict (parameter name -> tensor, as torch.save(model.state_dict()) writes) or a checkpoint dict holding one under {}",
            found.join(", "),
            CONTAINER_KEYS.map(|k| format!("\"{k}\"")).join(", ")
        );
    };
    if !taken.is_empty() {
        tracing::warn!("{}: a training checkpoint; using its state dict under {}", path.display(), taken.iter().map(|k| format!("[\"{k}\"]")).collect::<String>());
    }
    let mut out = Vec::new();
    for (k, v) in items {
        let Value::Str(name) = k else { continue };
        let Value::Call(func, args) = v else { continue };
        if !is_tensor(v) {
            let _ = func;
            continue;
        }
        let name = name.clone();
        let Some(Value::Persistent(pid)) = args.first() else { bail!("{name}: tensor without storage") };
        let Value::Tuple(pid) = pid.as_ref() else { bail!("{name}: bad storage record") };
        let (Some(Value::Global(_, storage_type)), Some(Value::Str(key))) = (pid.get(1), pid.get(2)) else {
            bail!("{name}: bad storage record")
        };
        let kind = storage_kind(storage_type)?;
        let offset = match args.get(1) {
            Some(Value::Int(o)) => *o,
            _ => 0,
        };
        let size = ints(args.get(2).context("tensor size")?)?;
        let stride = ints(args.get(3).context("tensor stride")?)?;
        let mut bytes = Vec::new();
        zip.by_name(&format!("{prefix}data/{key}"))
            .with_context(|| format!("{name}: storage {key} missing from the archive"))?
            .read_to_end(&mut bytes)?;
        let numel = bytes.len() / kind.elt_size_in_bytes();
        let storage = Tensor::f_from_data_size(&bytes, &[numel as i64], kind)?;
        let t = storage
            .f_as_strided(size.as_slice(), stride.as_slice(), Some(offset))
            .with_context(|| format!("{name}: size {size:?} and stride {stride:?} do not fit its storage of {numel} values"))?
            .contiguous();
        out.push((name, t));
    }
    Ok(out)
}
