//! The pickle virtual machine, run without executing anything: every value it builds is a
//! node of a flat arena (`Node`), a global is a name, and a call (REDUCE / NEWOBJ / INST /
//! OBJ) is recorded with its arguments and its BUILD state, never made. The memo holds node
//! ids, so a memoised value is shared as in Python (a list memoised empty and filled later
//! reads filled through every reference) and a memo read costs one id. What the arena may
//! hold is bounded (`MAX_NODES`); expanding it into a tree is bounded in interpret.rs.
use anyhow::{bail, Context, Result};
use super::literal::{le_int, raw_unicode, unquote};
use std::collections::HashMap;

/// Largest pickle read [bytes].
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;
/// Most values a pickle may build, or copy through its memo, into what pads reads.
pub const MAX_VALUES: usize = 4_000_000;
/// Most nodes one pickle may create in the arena (each opcode creates at most one).
pub const MAX_NODES: usize = MAX_VALUES;

pub(crate) type Id = usize;

/// One value built by the pickle. Containers refer to their items by arena id.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits, little-endian two's complement.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    FrozenSet(Vec<Id>),
    Global(String, String),
    /// `func(*args)` (REDUCE, `newobj` false) or `cls.__new__(cls, *args)` (NEWOBJ, INST,
    /// OBJ: `newobj` true), never made; `state` is what BUILD gave it.
    /// `items` / `appended`: what SETITEMS / APPENDS put into it (a dict or list subclass,
    /// e.g. `collections.OrderedDict`).
    Call { func: Id, args: Vec<Id>, newobj: bool, state: Option<Id>, items: Vec<(Id, Id)>, appended: Vec<Id> },
    Persistent(Id),
}

/// The arena of one pickle and the id of its result (what STOP returned).
pub(crate) struct Pickle {
    pub nodes: Vec<Node>,
    pub root: Id,
    /// Bytes the pickle took from the start of the input (up to and including STOP).
    pub len: usize,
}

impl Pickle {
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }
    /// (module, name) when `id` is a global.
    pub fn global(&self, id: Id) -> Option<(&str, &str)> {
        match &self.nodes[id] {
            Node::Global(m, n) => Some((m.as_str(), n.as_str())),
            _ => None,
        }
    }
    pub fn str(&self, id: Id) -> Option<&str> {
        match &self.nodes[id] {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A stack slot: a value or the MARK opcode's marker.
#[derive(Clone, Copy)]
enum Slot {
    Mark,
    Val(Id),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Slot>,
    memo: HashMap<u32, Id>,
    nodes: Vec<Node>,
}

/// Runs the pickle at the start of `data` (more bytes may follow it, as in the pre-1.6
/// torch format): its arena and result. Errors: a truncated or malformed pickle, an opcode
/// torch.save / pickle.dump do not write (extension registry, out-of-band buffers), more
/// than `MAX_NODES` values.
pub(crate) fn run(data: &[u8]) -> Result<Pickle> {
    let mut m = Machine { data, pos: 0, stack: Vec::new(), memo: HashMap::new(), nodes: Vec::new() };
    let root = m.run()?;
    Ok(Pickle { nodes: m.nodes, root, len: m.pos })
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.data.len() - self.pos {
            bail!("pickle ends early (byte {} of {}, {n} more needed)", self.pos, self.data.len());
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
    fn u64(&mut self) -> Result<usize> {
        let v = u64::from_le_bytes(self.take(8)?.try_into().unwrap());
        usize::try_from(v).context("pickle length does not fit memory")
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n').context("pickle ends early (a line without its newline)")?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }
    fn add(&mut self, n: Node) -> Result<Id> {
        if self.nodes.len() >= MAX_NODES {
            bail!("the pickle builds more than {MAX_VALUES} values: refused (a state dict needs a few thousand)");
        }
        self.nodes.push(n);
        Ok(self.nodes.len() - 1)
    }
    fn push(&mut self, n: Node) -> Result<()> {
        let id = self.add(n)?;
        self.stack.push(Slot::Val(id));
        Ok(())
    }
    fn pop(&mut self) -> Result<Id> {
        match self.stack.pop() {
            Some(Slot::Val(id)) => Ok(id),
            Some(Slot::Mark) => bail!("pickle: a value expected, a MARK found"),
            None => bail!("pickle stack underflow"),
        }
    }
    fn top(&self) -> Result<Id> {
        match self.stack.last() {
            Some(Slot::Val(id)) => Ok(*id),
            _ => bail!("pickle stack empty"),
        }
    }
    fn pop_mark(&mut self) -> Result<Vec<Id>> {
        let at = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)).context("pickle MARK missing")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items.into_iter().map(|s| if let Slot::Val(id) = s { id } else { unreachable!() }).collect())
    }
    fn memo_put(&mut self, k: u32) -> Result<()> {
        let id = self.top()?;
        self.memo.insert(k, id);
        Ok(())
    }
    fn memo_get(&mut self, k: u32) -> Result<()> {
        let id = *self.memo.get(&k).with_context(|| format!("pickle memo has no entry {k}"))?;
        self.stack.push(Slot::Val(id));
        Ok(())
    }
    fn pairs(items: Vec<Id>) -> Result<Vec<(Id, Id)>> {
        if items.len() % 2 != 0 {
            bail!("pickle dict with an odd number of items");
        }
        Ok(items.chunks(2).map(|c| (c[0], c[1])).collect())
    }
    fn call(&mut self, func: Id, args: Id, newobj: bool) -> Result<()> {
        let args = match &self.nodes[args] {
            Node::Tuple(a) => a.clone(),
            _ => vec![args],
        };
        self.push(Node::Call { func, args, newobj, state: None, items: Vec::new(), appended: Vec::new() })
    }

    fn run(&mut self) -> Result<Id> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        bail!("pickle protocol {p} is not known (0-5)");
                    }
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Slot::Mark),
                b'0' => {
                    self.stack.pop().context("pickle stack underflow")?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.stack.push(Slot::Val(id));
                }
                b'N' => self.push(Node::None)?,
                0x88 => self.push(Node::Bool(true))?,
                0x89 => self.push(Node::Bool(false))?,
                b'I' => {
                    let l = self.line()?;
                    let n = match l.trim() {
                        "01" => Node::Bool(true),
                        "00" => Node::Bool(false),
                        t => Node::Int(t.parse().with_context(|| format!("pickle INT {t:?}"))?),
                    };
                    self.push(n)?
                }
                b'L' => {
                    let l = self.line()?;
                    let t = l.trim().trim_end_matches('L');
                    self.push(Node::Int(t.parse().with_context(|| format!("pickle LONG {t:?} (wider than 64 bits?)"))?))?
                }
                b'F' => {
                    let l = self.line()?;
                    self.push(Node::Float(l.trim().parse().with_context(|| format!("pickle FLOAT {l:?}"))?))?
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                    self.push(Node::Int(v as i64))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Node::Int(v as i64))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into().unwrap());
                    self.push(Node::Int(v as i64))?
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    self.push(le_int(b))?
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.push(le_int(b))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.push(Node::Float(v))?
                }
                b'X' | b'T' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push(Node::Str(s))?
                }
                0x8c | b'U' => {
                    let n = self.u8()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push(Node::Str(s))?
                }
                0x8d => {
                    let n = self.u64()?;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push(Node::Str(s))?
                }
                b'S' => {
                    let l = self.line()?;
                    self.push(Node::Str(unquote(&l)))?
                }
                b'V' => {
                    let l = self.line()?;
                    self.push(Node::Str(raw_unicode(&l)))?
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Node::Bytes(b))?
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Node::Bytes(b))?
                }
                0x8e | 0x96 => {
                    let n = self.u64()?;
                    let b = self.take(n)?.to_vec();
                    self.push(Node::Bytes(b))?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Node::Global(module, name))?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.nodes[module], &self.nodes[name]) {
                        (Node::Str(m), Node::Str(n)) => {
                            let g = Node::Global(m.clone(), n.clone());
                            self.push(g)?
                        }
                        _ => bail!("pickle STACK_GLOBAL expects two strings"),
                    }
                }
                b'p' => {
                    let l = self.line()?;
                    let k = l.trim().parse().with_context(|| format!("pickle PUT {l:?}"))?;
                    self.memo_put(k)?
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.memo_put(k)?
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?
                }
                b'g' => {
                    let l = self.line()?;
                    let k = l.trim().parse().with_context(|| format!("pickle GET {l:?}"))?;
                    self.memo_get(k)?
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    self.memo_get(k)?
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?
                }
                b'}' => self.push(Node::Dict(Vec::new()))?,
                b']' => self.push(Node::List(Vec::new()))?,
                b')' => self.push(Node::Tuple(Vec::new()))?,
                0x8f => self.push(Node::Set(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Dict(Self::pairs(items)?))?
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Node::FrozenSet(items))?
                }
                0x85 => {
                    let a = self.pop()?;
                    self.push(Node::Tuple(vec![a]))?
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Node::Tuple(vec![a, b]))?
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Node::Tuple(vec![a, b, c]))?
                }
                b'a' | b'e' | 0x90 => {
                    let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                    let target = self.top()?;
                    match &mut self.nodes[target] {
                        Node::List(l) | Node::Set(l) => l.extend(items),
                        Node::Call { appended, .. } => appended.extend(items),
                        _ => bail!("pickle APPEND(S)/ADDITEMS on something that is not a list or set"),
                    }
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![k, v]
                    } else {
                        self.pop_mark()?
                    };
                    let pairs = Self::pairs(items)?;
                    let target = self.top()?;
                    match &mut self.nodes[target] {
                        Node::Dict(d) => d.extend(pairs),
                        Node::Call { items, .. } => items.extend(pairs),
                        _ => bail!("pickle SETITEM(S) on something that is not a dict"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.call(func, args, false)?
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.call(cls, args, true)?
                }
                0x92 => {
                    self.pop()?; // kwargs: kept out, NEWOBJ_EX of the classes pads reads has none
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.call(cls, args, true)?
                }
                b'i' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let args = self.pop_mark()?;
                    let cls = self.add(Node::Global(module, name))?;
                    self.push(Node::Call { func: cls, args, newobj: true, state: None, items: Vec::new(), appended: Vec::new() })?
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        bail!("pickle OBJ without a class");
                    }
                    let cls = items.remove(0);
                    self.push(Node::Call { func: cls, args: items, newobj: true, state: None, items: Vec::new(), appended: Vec::new() })?
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    if let Node::Call { state: s, .. } = &mut self.nodes[target] {
                        *s = Some(state);
                    }
                    // BUILD on a plain dict or list (attributes of a dict subclass, e.g. a
                    // state dict's `_metadata`): not needed, dropped.
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Node::Persistent(pid))?
                }
                b'P' => {
                    let l = self.line()?;
                    let pid = self.add(Node::Str(l))?;
                    self.push(Node::Persistent(pid))?
                }
                0x82..=0x84 => bail!("pickle uses the extension registry (EXT opcodes), which torch.save and pickle.dump never write"),
                0x97 | 0x98 => bail!("pickle uses out-of-band buffers (protocol 5), which torch.save and pickle.dump never write"),
                other => bail!("unknown pickle opcode 0x{other:02x} at byte {}", self.pos - 1),
            }
        }
    }
}
