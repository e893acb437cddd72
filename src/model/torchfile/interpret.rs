//! A pickle's arena read into `Value`s by meaning. The allow-list (nothing is ever called):
//! - `collections.OrderedDict` / `defaultdict`, `builtins.dict` → `Dict`; `builtins.set` /
//!   `frozenset` → `Set`; `builtins.complex`; `_codecs.encode(str, 'latin1')` and
//!   `builtins.bytes` / `bytearray` → `Bytes` (how protocol 2 writes bytes);
//! - `torch._utils._rebuild_tensor(_v2)` → `Tensor` from its storage;
//!   `_rebuild_parameter(_with_state)` → its tensor; `torch._tensor._rebuild_from_type_v2`
//!   → what its (allowed) function gives; `torch.Size` → `Tuple`; `torch.device` → `Device`;
//! - `numpy.(_)core.multiarray.scalar(dtype, bytes)` → `Int` / `Float` / `Bool` /
//!   `Complex`; `numpy.(_)core.multiarray._reconstruct` + BUILD → `Array`;
//!   `numpy.dtype` (only as part of those);
//! - an instance made without calling its constructor (NEWOBJ, INST / OBJ,
//!   `copyreg._reconstructor`, `copyreg.__newobj__`) of any class outside the code-running
//!   modules (`os`, `subprocess`, `builtins`, ...) → `Object` with its BUILD state.
//!
//! Any other call (REDUCE of `os.system`, `builtins.eval`, `subprocess.Popen`, a class's
//! custom reduce) becomes `Value::Call`: lazily refused, an error only when pads reads that
//! value (so a checkpoint whose optimizer holds an unknown object still gives its weights).
//! Expanding shared memo entries counts against `MAX_VALUES`; nesting is limited to
//! `MAX_DEPTH`.
use super::machine::{Id, Node, Pickle, MAX_VALUES};
use super::storage::{check_layout, extent, tensor_args};
use super::value::{ArrayData, NdArray, Object, Value};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tch::Tensor;

/// Deepest nesting of values read.
pub const MAX_DEPTH: usize = 200;

/// Modules whose classes are never instantiated, even without calling a constructor.
const CODE_MODULES: [&str; 18] = [
    "os", "posix", "nt", "subprocess", "sys", "builtins", "shutil", "importlib", "runpy", "pickle", "socket", "code",
    "ctypes", "pty", "webbrowser", "operator", "functools", "commands",
];

/// The Python 3 name of a module Python 2 (and protocol < 3) spells differently, and
/// numpy 2's `numpy._core` as numpy 1's `numpy.core`.
fn canonical(module: &str) -> &str {
    match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "commands" => "subprocess",
        "numpy._core.multiarray" => "numpy.core.multiarray",
        m => m,
    }
}

pub(crate) struct Interp<'a> {
    pub p: &'a Pickle,
    pub storages: &'a HashMap<String, Vec<u8>>,
    built: usize,
    tensors: HashMap<Id, Tensor>,
    /// The tar format's tensors by key (tar.rs), which its persistent ids name.
    keyed: Option<&'a HashMap<String, Tensor>>,
    path: Vec<String>,
}

impl<'a> Interp<'a> {
    pub fn new(p: &'a Pickle, storages: &'a HashMap<String, Vec<u8>>) -> Self {
        Interp { p, storages, built: 0, tensors: HashMap::new(), keyed: None, path: Vec::new() }
    }

    /// Persistent ids name these tensors (`int(saved_id)`, the tar format), not storages.
    pub fn keyed(mut self, tensors: &'a HashMap<String, Tensor>) -> Self {
        self.keyed = Some(tensors);
        self
    }

    fn here(&self) -> String {
        if self.path.is_empty() {
            "the root".to_string()
        } else {
            self.path.join("/")
        }
    }

    /// The value of node `id`, `depth` containers deep.
    pub fn value(&mut self, id: Id, depth: usize) -> Result<Value> {
        self.built += 1;
        if self.built > MAX_VALUES {
            bail!("the pickle builds more than {MAX_VALUES} values through its memo: refused (a state dict needs a few thousand)");
        }
        if depth > MAX_DEPTH {
            bail!("{}: values nested deeper than {MAX_DEPTH} levels (or a cycle): refused", self.here());
        }
        let p = self.p;
        Ok(match p.node(id) {
            Node::None => Value::None,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Int(*i),
            Node::BigInt(b) => Value::BigInt(b.clone()),
            Node::Float(f) => Value::Float(*f),
            Node::Str(s) => Value::Str(s.clone()),
            Node::Bytes(b) => Value::Bytes(b.clone()),
            Node::Tuple(items) => Value::Tuple(self.values(items, depth)?),
            Node::List(items) => Value::List(self.values(items, depth)?),
            Node::Set(items) | Node::FrozenSet(items) => Value::Set(self.values(items, depth)?),
            Node::Dict(pairs) => Value::Dict(self.pairs(pairs, depth)?),
            Node::Global(m, n) => Value::Global(m.clone(), n.clone()),
            Node::Persistent(pid) => match self.keyed {
                Some(keyed) => match super::tar::persistent_key(p, *pid).with_context(|| self.here())? {
                    Some(k) => Value::Tensor(keyed.get(&k).with_context(|| format!("{}: persistent id {k} names no tensor", self.here()))?.shallow_clone()),
                    // A module class with its saved source: torch gives the class itself.
                    None => match p.node(*pid) {
                        Node::Tuple(t) if t.first().and_then(|&c| p.global(c)).is_some() => self.value(t[0], depth + 1)?,
                        _ => bail!("{}: a persistent id tuple that does not start with a class", self.here()),
                    },
                },
                None => bail!("{}: a persistent id outside a tensor (a bare storage): not read", self.here()),
            },
            Node::Call { func, args, newobj, state, items, appended } => self.call(id, *func, args, *newobj, *state, items, appended, depth)?,
        })
    }

    fn values(&mut self, ids: &[Id], depth: usize) -> Result<Vec<Value>> {
        ids.iter().enumerate().map(|(i, &c)| {
            self.path.push(i.to_string());
            let v = self.value(c, depth + 1);
            self.path.pop();
            v
        }).collect()
    }

    fn pairs(&mut self, pairs: &[(Id, Id)], depth: usize) -> Result<Vec<(Value, Value)>> {
        let mut out = Vec::with_capacity(pairs.len());
        for &(k, v) in pairs {
            let key = self.value(k, depth + 1)?;
            self.path.push(match &key {
                Value::Str(s) => s.clone(),
                other => format!("<{}>", other.kind()),
            });
            let val = self.value(v, depth + 1);
            self.path.pop();
            out.push((key, val?));
        }
        Ok(out)
    }

    fn arg(&mut self, args: &[Id], i: usize, depth: usize) -> Result<Value> {
        match args.get(i) {
            Some(&a) => self.value(a, depth + 1),
            None => bail!("{}: argument {i} missing", self.here()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call(&mut self, id: Id, func: Id, args: &[Id], newobj: bool, state: Option<Id>, items: &[(Id, Id)], appended: &[Id], depth: usize) -> Result<Value> {
        let p = self.p;
        let Some((module, name)) = p.global(func) else {
            let args = self.values(args, depth)?;
            return Ok(Value::Call { module: "<computed>".into(), name: "<callable>".into(), args });
        };
        let (module, name) = (canonical(module), name);
        Ok(match (module, name) {
            ("collections", "OrderedDict" | "defaultdict") | ("builtins", "dict") => {
                let mut pairs = Vec::new();
                if let (("collections", "OrderedDict") | ("builtins", "dict"), Some(&a)) = ((module, name), args.first()) {
                    pairs = self.pairs_of(a, depth)?;
                }
                pairs.extend(self.pairs(items, depth)?);
                Value::Dict(pairs)
            }
            ("builtins", "set" | "frozenset") => match args.first() {
                Some(&a) => Value::Set(self.list_of(a, depth)?),
                None => Value::Set(Vec::new()),
            },
            ("builtins", "complex") => {
                let re = self.arg(args, 0, depth)?.as_f64()?;
                let im = if args.len() > 1 { self.arg(args, 1, depth)?.as_f64()? } else { 0.0 };
                Value::Complex(re, im)
            }
            ("_codecs", "encode") => {
                let s = self.arg(args, 0, depth)?;
                let enc = if args.len() > 1 { self.arg(args, 1, depth)? } else { Value::Str("utf-8".into()) };
                match (&s, enc.as_str()?) {
                    (Value::Str(s), "latin1" | "latin-1") => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
                    (Value::Str(s), "utf-8" | "utf8") => Value::Bytes(s.as_bytes().to_vec()),
                    _ => bail!("{}: _codecs.encode of a {} in {}: not read", self.here(), s.kind(), enc.as_str()?),
                }
            }
            ("builtins", "bytes" | "bytearray") => match args.first() {
                None => Value::Bytes(Vec::new()),
                Some(_) => match self.arg(args, 0, depth)? {
                    b @ Value::Bytes(_) => b,
                    other => bail!("{}: {name}() of a {}: not read", self.here(), other.kind()),
                },
            },
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => Value::Tensor(self.tensor(id, args)?),
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => self.arg(args, 0, depth)?,
            ("torch._tensor", "_rebuild_from_type_v2") => {
                // (func, type, args, state): func(*args), then the subclass is dropped.
                let (f, a) = (*args.first().context("_rebuild_from_type_v2 without a function")?, *args.get(2).context("_rebuild_from_type_v2 without arguments")?);
                let inner = match p.node(a) {
                    Node::Tuple(t) => t.clone(),
                    _ => bail!("{}: _rebuild_from_type_v2 arguments are not a tuple", self.here()),
                };
                self.call(id, f, &inner, false, None, &[], &[], depth + 1)?
            }
            ("torch", "Size") => Value::Tuple(match args.first() {
                Some(&a) => self.list_of(a, depth)?,
                None => Vec::new(),
            }),
            ("torch", "device") => {
                let kind = self.arg(args, 0, depth)?;
                let kind = kind.as_str().with_context(|| format!("{}: torch.device", self.here()))?.to_string();
                match args.get(1) {
                    Some(_) => match self.arg(args, 1, depth)? {
                        Value::None => Value::Device(kind),
                        i => Value::Device(format!("{kind}:{}", i.as_i64()?)),
                    },
                    None => Value::Device(kind),
                }
            }
            ("numpy.core.multiarray", "scalar") => {
                let dtype = self.dtype(args.first().copied(), depth)?;
                let bytes = match self.arg(args, 1, depth)? {
                    Value::Bytes(b) => b,
                    other => bail!("{}: numpy scalar data is a {}, expected bytes", self.here(), other.kind()),
                };
                scalar(&dtype, bytes).with_context(|| format!("{}: numpy scalar", self.here()))?
            }
            ("numpy.core.multiarray", "_reconstruct") => self.array(state, depth)?,
            ("copyreg", "_reconstructor") | ("copyreg", "__newobj__") => {
                let cls = *args.first().with_context(|| format!("{}: {module}.{name} without a class", self.here()))?;
                let rest: &[Id] = if name == "__newobj__" { &args[1..] } else { &[] };
                let first_state = if name == "_reconstructor" { args.get(2).copied().filter(|&s| !matches!(p.node(s), Node::None)) } else { None };
                self.object(cls, rest, state.or(first_state), items, appended, depth)?
            }
            _ if newobj => self.object(func, args, state, items, appended, depth)?,
            _ => Value::Call { module: module.to_string(), name: name.to_string(), args: self.values(args, depth)? },
        })
    }

    fn pairs_of(&mut self, id: Id, depth: usize) -> Result<Vec<(Value, Value)>> {
        Ok(match self.value(id, depth + 1)? {
            Value::Dict(p) => p,
            Value::List(items) | Value::Tuple(items) => items
                .into_iter()
                .map(|kv| match kv {
                    Value::List(mut v) | Value::Tuple(mut v) if v.len() == 2 => {
                        let b = v.pop().unwrap();
                        Ok((v.pop().unwrap(), b))
                    }
                    other => bail!("{}: a dict item that is a {}, expected a pair", self.here(), other.kind()),
                })
                .collect::<Result<_>>()?,
            other => bail!("{}: a dict made from a {}", self.here(), other.kind()),
        })
    }

    fn list_of(&mut self, id: Id, depth: usize) -> Result<Vec<Value>> {
        match self.value(id, depth + 1)? {
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => Ok(v),
            other => bail!("{}: expected a list, found a {}", self.here(), other.kind()),
        }
    }

    fn object(&mut self, cls: Id, args: &[Id], state: Option<Id>, items: &[(Id, Id)], appended: &[Id], depth: usize) -> Result<Value> {
        let Some((module, name)) = self.p.global(cls) else { bail!("{}: an object whose class is not a global", self.here()) };
        let (module, name) = (canonical(module).to_string(), name.to_string());
        let root = module.split('.').next().unwrap_or("");
        if CODE_MODULES.contains(&root) {
            return Ok(Value::Call { module, name, args: self.values(args, depth)? });
        }
        let args = self.values(args, depth)?;
        let state = match state {
            Some(s) => Some(Box::new(self.value(s, depth + 1)?)),
            None => None,
        };
        let items = self.pairs(items, depth)?;
        let appended = self.values(appended, depth)?;
        Ok(Value::Object(Object { module, name, args, state, items, appended }))
    }

    /// numpy's dtype string (`<f8`) of a `numpy.dtype(descr, align, copy)` call and its
    /// BUILD state `(version, byteorder, ...)`.
    fn dtype(&mut self, id: Option<Id>, depth: usize) -> Result<String> {
        let p = self.p;
        let id = id.with_context(|| format!("{}: numpy value without its dtype", self.here()))?;
        let Node::Call { func, args, state, .. } = p.node(id) else { bail!("{}: a numpy dtype that is not numpy.dtype(...)", self.here()) };
        if p.global(*func) != Some(("numpy", "dtype")) {
            bail!("{}: a numpy dtype made by {:?}", self.here(), p.global(*func));
        }
        let descr = self.arg(args, 0, depth)?.as_str()?.to_string();
        let order = match state.map(|s| self.value(s, depth + 1)).transpose()? {
            Some(Value::Tuple(t)) if t.len() > 1 => t[1].as_str().unwrap_or("|").to_string(),
            _ => "|".to_string(),
        };
        let order = if order == "=" { "<".to_string() } else { order };
        Ok(format!("{order}{descr}"))
    }

    fn array(&mut self, state: Option<Id>, depth: usize) -> Result<Value> {
        let p = self.p;
        let s = state.with_context(|| format!("{}: a numpy array without its state", self.here()))?;
        let Node::Tuple(t) = p.node(s) else { bail!("{}: a numpy array state that is not a tuple", self.here()) };
        if t.len() != 5 {
            bail!("{}: a numpy array state of {} items, expected 5", self.here(), t.len());
        }
        let shape = self.list_of(t[1], depth)?.iter().map(|v| v.as_i64().map(|n| n.max(0) as usize)).collect::<Result<Vec<_>>>()?;
        let dtype = self.dtype(Some(t[2]), depth)?;
        let fortran = self.value(t[3], depth + 1)?.as_bool()?;
        let data = match self.value(t[4], depth + 1)? {
            Value::Bytes(b) => ArrayData::Bytes(b),
            Value::Str(s) => ArrayData::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
            Value::List(items) => ArrayData::Objects(items),
            other => bail!("{}: numpy array data is a {}", self.here(), other.kind()),
        };
        Ok(Value::Array(NdArray { dtype, shape, fortran, data }))
    }

    /// The tensor of a `_rebuild_tensor(_v2)` call `id` (built once per call).
    fn tensor(&mut self, id: Id, args: &[Id]) -> Result<Tensor> {
        if let Some(t) = self.tensors.get(&id) {
            return Ok(t.shallow_clone());
        }
        let name = self.here();
        let (st, offset, size, stride) = tensor_args(self.p, args).with_context(|| format!("{name}: bad tensor record"))?;
        check_layout(&name, offset, &size, &stride)?;
        let all = self.storages.get(&st.key).with_context(|| format!("{name}: storage {} missing", st.key))?;
        let elt = st.kind.elt_size_in_bytes();
        let bytes: &[u8] = match &st.view {
            Some((_, off, n)) => {
                let (a, b) = ((*off).max(0) as usize * elt, ((*off).max(0) + (*n).max(0)) as usize * elt);
                &all[a.min(all.len())..b.min(all.len())]
            }
            None => all,
        };
        let numel = bytes.len() / elt;
        if extent(offset, &size, &stride).unwrap_or(u64::MAX) > numel as u64 {
            bail!("{name}: size {size:?} and stride {stride:?} do not fit its storage of {numel} values (a storage shorter than its tensor)");
        }
        let storage = Tensor::f_from_data_size(&bytes[..numel * elt], &[numel as i64], st.kind)?;
        let t = storage
            .f_as_strided(size.as_slice(), stride.as_slice(), Some(offset))
            .with_context(|| format!("{name}: size {size:?} and stride {stride:?} do not fit its storage of {numel} values"))?
            .contiguous();
        self.tensors.insert(id, t.shallow_clone());
        Ok(t)
    }
}

/// A numpy scalar of `dtype` from its raw bytes, as a plain number.
fn scalar(dtype: &str, bytes: Vec<u8>) -> Result<Value> {
    let a = NdArray { dtype: dtype.to_string(), shape: vec![], fortran: false, data: ArrayData::Bytes(bytes) };
    let code = dtype.trim_start_matches(['<', '>', '|', '=']);
    Ok(match code.chars().next() {
        Some('b') => Value::Bool(a.to_f64()?.first().copied().unwrap_or(0.0) != 0.0),
        Some('i' | 'u') => Value::Int(*a.to_f64()?.first().context("empty scalar")? as i64),
        Some('f') => Value::Float(*a.to_f64()?.first().context("empty scalar")?),
        Some('c') => {
            let half = NdArray { dtype: format!("{}f{}", &dtype[..1], code[1..].parse::<usize>().unwrap_or(16) / 2), ..a };
            let v = half.to_f64()?;
            Value::Complex(*v.first().context("short complex")?, *v.get(1).context("short complex")?)
        }
        _ => bail!("numpy scalar of dtype {dtype}: not read"),
    })
}
