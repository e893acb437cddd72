//! What a pickle holds, read by meaning (`Value`), and the accessors that walk it. Every
//! accessor returns an error (never panics) that says what was expected and what was found;
//! reaching a value that only a non-allowed callable could build is the error
//! `needs the callable MODULE.NAME ...; pads never runs code from a file`.
use anyhow::{bail, Result};
use tch::Tensor;

/// A numpy array (`numpy.core.multiarray._reconstruct` + BUILD state): its dtype in numpy's
/// `str` spelling (`<f8`, `<i8`, `|b1`, `|O` for an object array), shape, and data.
#[derive(Debug)]
pub struct NdArray {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Column-major data (`is_fortran` in numpy's state).
    pub fortran: bool,
    pub data: ArrayData,
}

/// Raw element bytes (every dtype but object), or the items of an object array.
#[derive(Debug)]
pub enum ArrayData {
    Bytes(Vec<u8>),
    Objects(Vec<Value>),
}

/// An instance of a class pads does not interpret (`argparse.Namespace`,
/// `auxiliaries.Progress_Saver`, `__main__.Something`): never constructed, kept as its
/// class name, its constructor arguments and the state BUILD gave it. Its fields are the
/// state's dict (`__dict__`), plus the slots dict of a `(dict, slots)` state.
#[derive(Debug)]
pub struct Object {
    pub module: String,
    pub name: String,
    pub args: Vec<Value>,
    pub state: Option<Box<Value>>,
    /// What SETITEMS put into it (a dict subclass).
    pub items: Vec<(Value, Value)>,
    /// What APPENDS put into it (a list subclass).
    pub appended: Vec<Value>,
}

/// One value of a pickle, interpreted. Allow-listed globals are read by their meaning
/// (interpret.rs lists them); nothing is ever called.
#[derive(Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits, little-endian two's complement bytes.
    BigInt(Vec<u8>),
    /// A Python float, or a numpy floating scalar.
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// `set` / `frozenset` items.
    Set(Vec<Value>),
    /// A dict or `collections.OrderedDict`, in file order.
    Dict(Vec<(Value, Value)>),
    /// A tensor rebuilt from its storage (contiguous, on the CPU).
    Tensor(Tensor),
    /// `torch.device`: `cpu`, `cuda:0`.
    Device(String),
    /// A numpy array (numpy scalars become `Int` / `Float` / `Bool` / `Complex`).
    Array(NdArray),
    /// A class, function or constant named but not called (`torch.float32`, a class).
    Global(String, String),
    Object(Object),
    /// What only calling a non-allowed callable could give: never called. Reading it (any
    /// accessor) is an error naming the callable.
    Call { module: String, name: String, args: Vec<Value> },
}

/// The error for a value only a non-allowed callable could build, `what` naming the value.
pub fn refuse_call(module: &str, name: &str, what: &str) -> anyhow::Error {
    anyhow::anyhow!("needs the callable {module}.{name} to build {what}; pads never runs code from a file")
}

impl Value {
    /// A short name of the kind of value, for messages: `dict`, `tensor`, `argparse.Namespace`.
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Complex(..) => "complex".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Set(_) => "set".into(),
            Value::Dict(_) => "dict".into(),
            Value::Tensor(_) => "tensor".into(),
            Value::Device(_) => "torch.device".into(),
            Value::Array(_) => "numpy array".into(),
            Value::Global(m, n) => format!("{m}.{n} (not called)"),
            Value::Object(o) => format!("{}.{}", o.module, o.name),
            Value::Call { module, name, .. } => format!("call of {module}.{name} (not made)"),
        }
    }

    /// Errors when `self` is an unmade call, naming `what` it should have built.
    pub fn check_made(&self, what: &str) -> Result<&Value> {
        match self {
            Value::Call { module, name, .. } => Err(refuse_call(module, name, what)),
            v => Ok(v),
        }
    }

    /// The entry `key` of a dict (string keys) or the field `key` of an object; `Ok(None)`
    /// when absent. Errors: `self` is neither, or the entry is an unmade call.
    pub fn get(&self, key: &str) -> Result<Option<&Value>> {
        let found = match self.check_made("this value")? {
            Value::Dict(pairs) => pairs.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v),
            Value::Object(o) => o.field(key),
            other => bail!("expected a dict or an object holding '{key}', found a {}", other.kind()),
        };
        match found {
            Some(v) => Ok(Some(v.check_made(&format!("'{key}'"))?)),
            None => Ok(None),
        }
    }

    /// Like `get`, but a missing entry is an error listing the keys present.
    pub fn req(&self, key: &str) -> Result<&Value> {
        match self.get(key)? {
            Some(v) => Ok(v),
            None => bail!("no '{key}' here; found: [{}]", self.keys().join(", ")),
        }
    }

    /// The string keys of a dict or the field names of an object (others: empty).
    pub fn keys(&self) -> Vec<String> {
        let pairs: &[(Value, Value)] = match self {
            Value::Dict(p) => p,
            Value::Object(o) => match o.fields() {
                Some(p) => p,
                None => &o.items,
            },
            _ => &[],
        };
        pairs.iter().map(|(k, _)| if let Value::Str(s) = k { s.clone() } else { format!("<{}>", k.kind()) }).collect()
    }

    /// A dict's pairs (an object that is a dict subclass: what SETITEMS put in it).
    pub fn as_dict(&self) -> Result<&[(Value, Value)]> {
        match self.check_made("a dict")? {
            Value::Dict(p) => Ok(p),
            Value::Object(o) if !o.items.is_empty() => Ok(&o.items),
            other => bail!("expected a dict, found a {}", other.kind()),
        }
    }

    /// The items of a list, tuple or set (an object that is a list subclass: what APPENDS
    /// put in it).
    pub fn as_list(&self) -> Result<&[Value]> {
        match self.check_made("a list")? {
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => Ok(v),
            Value::Object(o) if !o.appended.is_empty() => Ok(&o.appended),
            other => bail!("expected a list, found a {}", other.kind()),
        }
    }

    pub fn as_str(&self) -> Result<&str> {
        match self.check_made("a string")? {
            Value::Str(s) => Ok(s),
            other => bail!("expected a string, found a {}", other.kind()),
        }
    }

    /// An integer (a bool counts as 0 / 1, as in Python).
    pub fn as_i64(&self) -> Result<i64> {
        match self.check_made("an integer")? {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(*b as i64),
            other => bail!("expected an integer, found a {}", other.kind()),
        }
    }

    /// A number: float, integer or bool (as Python's `float(x)`).
    pub fn as_f64(&self) -> Result<f64> {
        match self.check_made("a number")? {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::Bool(b) => Ok(*b as i64 as f64),
            Value::Array(a) if a.shape.iter().product::<usize>() == 1 => Ok(a.to_f64()?[0]),
            other => bail!("expected a number, found a {}", other.kind()),
        }
    }

    pub fn as_bool(&self) -> Result<bool> {
        match self.check_made("a bool")? {
            Value::Bool(b) => Ok(*b),
            Value::Int(i @ (0 | 1)) => Ok(*i == 1),
            other => bail!("expected a bool, found a {}", other.kind()),
        }
    }

    pub fn as_tensor(&self) -> Result<&Tensor> {
        match self.check_made("a tensor")? {
            Value::Tensor(t) => Ok(t),
            other => bail!("expected a tensor, found a {}", other.kind()),
        }
    }

    pub fn as_object(&self) -> Result<&Object> {
        match self.check_made("an object")? {
            Value::Object(o) => Ok(o),
            other => bail!("expected an object, found a {}", other.kind()),
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }
}

impl Object {
    /// The state's `__dict__` pairs: a dict state, or the first of a `(dict, slots)` tuple.
    pub fn fields(&self) -> Option<&[(Value, Value)]> {
        match self.state.as_deref()? {
            Value::Dict(p) => Some(p),
            Value::Tuple(t) if t.len() == 2 => match (&t[0], &t[1]) {
                (Value::Dict(p), _) if !p.is_empty() => Some(p),
                (_, Value::Dict(p)) => Some(p),
                _ => None,
            },
            _ => None,
        }
    }

    /// The field `name` (from `__dict__` or slots), unchecked.
    pub fn field(&self, name: &str) -> Option<&Value> {
        fn find<'v>(p: &'v [(Value, Value)], name: &str) -> Option<&'v Value> {
            p.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == name)).map(|(_, v)| v)
        }
        if let Some(v) = self.fields().and_then(|p| find(p, name)) {
            return Some(v);
        }
        match self.state.as_deref() {
            Some(Value::Tuple(t)) if t.len() == 2 => match &t[1] {
                Value::Dict(p) => find(p, name),
                _ => None,
            },
            _ => None,
        }
    }

    /// `module.name` of the class.
    pub fn class(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

impl NdArray {
    /// The elements as f64 in storage order (bool, signed / unsigned integers of 1-8 bytes,
    /// float16/32/64, either byte order; an object array of numbers). Errors: other dtypes.
    pub fn to_f64(&self) -> Result<Vec<f64>> {
        let bytes = match &self.data {
            ArrayData::Objects(items) => return items.iter().map(|v| v.as_f64()).collect(),
            ArrayData::Bytes(b) => b,
        };
        let d = self.dtype.as_bytes();
        let big = d.first() == Some(&b'>');
        let code = self.dtype.trim_start_matches(['<', '>', '|', '=']);
        let (kind, size) = code.split_at(1.min(code.len()));
        let size: usize = size.parse().unwrap_or(0);
        if size == 0 || bytes.len() % size != 0 {
            bail!("numpy array of dtype {} with {} bytes: not read", self.dtype, bytes.len());
        }
        let word = |c: &[u8]| {
            let mut b = [0u8; 8];
            if big {
                for (i, x) in c.iter().rev().enumerate() {
                    b[i] = *x;
                }
            } else {
                b[..c.len()].copy_from_slice(c);
            }
            u64::from_le_bytes(b)
        };
        bytes
            .chunks(size)
            .map(|c| {
                let w = word(c);
                Ok(match (kind, size) {
                    ("f", 8) => f64::from_bits(w),
                    ("f", 4) => f32::from_bits(w as u32) as f64,
                    ("f", 2) => half_to_f64(w as u16),
                    ("i", n) => ((w << (64 - 8 * n)) as i64 >> (64 - 8 * n)) as f64,
                    ("u", _) | ("b", 1) => w as f64,
                    _ => bail!("numpy dtype {} is not read as numbers", self.dtype),
                })
            })
            .collect()
    }
}

/// IEEE half precision bits to f64.
pub(crate) fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}
