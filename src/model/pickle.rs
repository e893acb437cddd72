//! The pickle machine of `.pth` files: the opcodes torch.save emits, run without executing
//! anything (a global is a name, a call is recorded, never made), within the limits the
//! module doc of pth.rs states (`MAX_VALUES`).
use anyhow::{bail, Context, Result};
use std::collections::HashMap;

#[derive(Debug, Clone)]
#[allow(dead_code)] // scalars are parsed for completeness, only ints are read
pub(crate) enum Value {
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

pub(crate) fn global_name(v: &Value) -> Option<(&str, &str)> {
    match v {
        Value::Global(m, n) => Some((m.as_str(), n.as_str())),
        _ => None,
    }
}

/// Largest data.pkl read [bytes].
/// Largest data.pkl read [bytes].
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;
/// Most values a pickle may build or copy through its memo.
pub const MAX_VALUES: usize = 4_000_000;

pub(crate) struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
    /// Values copied through the memo so far (`MAX_VALUES`).
    built: usize,
}

/// The number of values in `v`, counting up to `limit` (then stops).
fn count_values(v: &Value, limit: usize) -> usize {
    let mut n = 1;
    let add = |c: &Value, n: &mut usize| {
        if *n < limit {
            *n += count_values(c, limit - *n);
        }
    };
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().for_each(|c| add(c, &mut n)),
        Value::Dict(pairs) => pairs.iter().for_each(|(k, x)| {
            add(k, &mut n);
            add(x, &mut n)
        }),
        Value::Call(f, args) => {
            add(f, &mut n);
            args.iter().for_each(|c| add(c, &mut n));
        }
        Value::Persistent(p) => add(p, &mut n),
        _ => {}
    }
    n
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
    /// Counts `n` more values against `MAX_VALUES` (before they are copied).
    fn charge(&mut self, n: usize) -> Result<()> {
        self.built += n;
        if self.built > MAX_VALUES {
            bail!("the pickle builds more than {MAX_VALUES} values through its memo: refused (a state dict needs a few thousand)");
        }
        Ok(())
    }
    fn memo_put(&mut self, k: u32) -> Result<()> {
        let n = count_values(self.stack.last().context("pickle stack empty")?, MAX_VALUES + 1);
        self.charge(n)?;
        let v = self.stack.last().context("pickle stack empty")?.clone();
        self.memo.insert(k, v);
        Ok(())
    }
    fn memo_get(&mut self, k: u32) -> Result<()> {
        let n = count_values(self.memo.get(&k).context("pickle memo miss")?, MAX_VALUES + 1);
        self.charge(n)?;
        let v = self.memo[&k].clone();
        self.stack.push(v);
        Ok(())
    }

    /// Runs the pickle `data`: the value it returns (its STOP).
    pub(crate) fn run_on(data: &'a [u8]) -> Result<Value> {
        Machine { data, pos: 0, stack: Vec::new(), memo: HashMap::new(), built: 0 }.run()
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
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?;
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

