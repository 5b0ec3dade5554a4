//! The D-Bus wire format, as much as the live view needs: method calls with string and
//! string-array arguments out, any reply in (the D-Bus specification, "Message
//! Protocol"). A reply is untrusted bytes: every length and offset is checked, nesting is
//! bounded, and a bad message is an error, never a panic (fuzzed: fuzz/dbus_message).
//!
//! Written here rather than taken from a crate because systemd's private socket answers
//! with `Sender=org.freedesktop.systemd1`, a well-known name, where zbus 5 insists on a
//! unique name and panics in its reader thread.

/// The most a message may be (the specification's limit).
pub const MAX_MESSAGE: usize = 128 << 20;
const MAX_DEPTH: usize = 64;

/// A decoded value. Integers of every width widen to `I64`/`U64`; dict entries and
/// structs are both `Struct`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Array(Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Variant(v) => v.as_str(),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(u) => Some(*u),
            Value::Variant(v) => v.as_u64(),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Variant(v) => v.as_bool(),
            _ => None,
        }
    }
}

/// An argument of a call we send.
pub enum Arg<'a> {
    Str(&'a str),
    Strs(&'a [&'a str]),
}

/// A message header field code and type (specification table "Header Fields").
const PATH: u8 = 1;
const INTERFACE: u8 = 2;
const MEMBER: u8 = 3;
const ERROR_NAME: u8 = 4;
const REPLY_SERIAL: u8 = 5;
const DESTINATION: u8 = 6;
const SIGNATURE: u8 = 8;

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    pad(buf, 4);
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

fn put_sig(buf: &mut Vec<u8>, s: &str) {
    buf.push(s.len() as u8);
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// A method call, little-endian, ready to write.
pub fn method_call(
    serial: u32,
    destination: Option<&str>,
    path: &str,
    interface: &str,
    member: &str,
    args: &[Arg<'_>],
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut sig = String::new();
    for a in args {
        match a {
            Arg::Str(s) => {
                sig.push('s');
                put_str(&mut body, s);
            }
            Arg::Strs(v) => {
                sig.push_str("as");
                pad(&mut body, 4);
                let at = body.len();
                body.extend_from_slice(&0u32.to_le_bytes());
                let start = body.len(); // strings align to 4, as the length does: no padding
                for s in *v {
                    put_str(&mut body, s);
                }
                let n = (body.len() - start) as u32;
                body[at..at + 4].copy_from_slice(&n.to_le_bytes());
            }
        }
    }
    let mut fields = Vec::new();
    let mut field = |code: u8, ty: &str, val: &str| {
        pad(&mut fields, 8);
        fields.push(code);
        put_sig(&mut fields, ty);
        if ty == "g" {
            put_sig(&mut fields, val);
        } else {
            // Offsets inside the fields array are relative to the message start, which
            // is 16 bytes before it: alignment to 4 and 8 is the same.
            put_str(&mut fields, val);
        }
    };
    field(PATH, "o", path);
    field(INTERFACE, "s", interface);
    field(MEMBER, "s", member);
    if let Some(d) = destination {
        field(DESTINATION, "s", d);
    }
    if !sig.is_empty() {
        field(SIGNATURE, "g", &sig);
    }
    let mut msg = vec![b'l', 1, 0, 1];
    msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    msg.extend_from_slice(&serial.to_le_bytes());
    msg.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    msg.extend_from_slice(&fields);
    pad(&mut msg, 8);
    msg.extend_from_slice(&body);
    msg
}

/// A received message.
#[derive(Debug)]
pub struct Message {
    /// 1 call, 2 return, 3 error, 4 signal.
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub body: Vec<Value>,
}

/// The total length of the message whose first 16 bytes are `head`.
pub fn message_len(head: &[u8; 16]) -> Result<usize, String> {
    let le = match head[0] {
        b'l' => true,
        b'B' => false,
        b => return Err(format!("bad endianness byte {b:#x}")),
    };
    let u = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    };
    let body = u(&head[4..8]) as usize;
    let fields = u(&head[12..16]) as usize;
    let total = (16 + fields).div_ceil(8) * 8 + body;
    if total > MAX_MESSAGE || fields > MAX_MESSAGE || body > MAX_MESSAGE {
        return Err(format!("message of {total} bytes is over the limit"));
    }
    Ok(total)
}

/// Decodes one whole message.
pub fn parse(buf: &[u8]) -> Result<Message, String> {
    let head: &[u8; 16] = buf.get(..16).and_then(|h| h.try_into().ok()).ok_or("short message")?;
    let total = message_len(head)?;
    if buf.len() != total {
        return Err(format!("message is {} bytes, its header says {total}", buf.len()));
    }
    if head[3] != 1 {
        return Err(format!("protocol version {}", head[3]));
    }
    let mut r = Reader { buf, pos: 12, le: head[0] == b'l', depth: 0 };
    let fields = r.value(&mut "a(yv)".chars().peekable())?;
    let mut m = Message { kind: head[1], reply_serial: None, error_name: None, body: Vec::new() };
    let mut signature = String::new();
    if let Value::Array(fs) = fields {
        for f in fs {
            if let Value::Struct(v) = f {
                match (v.first(), v.get(1)) {
                    (Some(Value::U64(c)), Some(Value::Variant(val))) => match (*c as u8, &**val) {
                        (REPLY_SERIAL, Value::U64(s)) => m.reply_serial = Some(*s as u32),
                        (ERROR_NAME, Value::Str(s)) => m.error_name = Some(s.clone()),
                        (SIGNATURE, Value::Str(s)) => signature = s.clone(),
                        _ => {}
                    },
                    _ => return Err("bad header field".into()),
                }
            }
        }
    }
    r.align(8)?;
    // Alignment in the body is relative to the message start; the body starts 8-aligned.
    let mut sig = signature.chars().peekable();
    while sig.peek().is_some() {
        m.body.push(r.value(&mut sig)?);
    }
    if r.pos != buf.len() {
        return Err(format!("{} bytes left after the body", buf.len() - r.pos));
    }
    Ok(m)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    le: bool,
    depth: usize,
}

type Sig<'s> = std::iter::Peekable<std::str::Chars<'s>>;

fn alignment(c: char) -> usize {
    match c {
        'y' | 'g' | 'v' => 1,
        'n' | 'q' => 2,
        'b' | 'i' | 'u' | 's' | 'o' | 'a' | 'h' => 4,
        _ => 8, // x t d ( {
    }
}

impl Reader<'_> {
    fn align(&mut self, a: usize) -> Result<(), String> {
        let to = self.pos.div_ceil(a) * a;
        if to > self.buf.len() {
            return Err("truncated (padding)".into());
        }
        self.pos = to;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("truncated")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        self.align(n)?;
        let le = self.le;
        let b = self.take(n)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { b[n - 1 - i] } else { b[i] };
            v = (v << 8) | u64::from(byte);
        }
        Ok(v)
    }

    fn string(&mut self, len: usize) -> Result<String, String> {
        let b = self.take(len + 1)?;
        if b[len] != 0 {
            return Err("string without its NUL".into());
        }
        String::from_utf8(b[..len].to_vec()).map_err(|_| "string not UTF-8".to_string())
    }

    /// Reads the next complete type of `sig` and its value.
    fn value(&mut self, sig: &mut Sig<'_>) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let c = sig.next().ok_or("signature ends early")?;
        let v = match c {
            'y' => Value::U64(self.uint(1)?),
            'b' => match self.uint(4)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                n => return Err(format!("boolean {n}")),
            },
            'n' => Value::I64(i64::from(self.uint(2)? as u16 as i16)),
            'q' | 'u' | 't' | 'h' => Value::U64(self.uint(alignment(c))?),
            'i' => Value::I64(i64::from(self.uint(4)? as u32 as i32)),
            'x' => Value::I64(self.uint(8)? as i64),
            'd' => Value::F64(f64::from_bits(self.uint(8)?)),
            's' | 'o' => {
                let n = self.uint(4)? as usize;
                Value::Str(self.string(n)?)
            }
            'g' => {
                let n = self.uint(1)? as usize;
                Value::Str(self.string(n)?)
            }
            'v' => {
                let n = self.uint(1)? as usize;
                let inner = self.string(n)?;
                let mut s = inner.chars().peekable();
                let v = self.value(&mut s)?;
                if s.peek().is_some() {
                    return Err("variant signature holds more than one type".into());
                }
                Value::Variant(Box::new(v))
            }
            'a' => {
                let n = self.uint(4)? as usize;
                if n > MAX_MESSAGE {
                    return Err("array too long".into());
                }
                let elem: String = {
                    let mut probe = sig.clone();
                    let start: Vec<char> = std::iter::from_fn(|| probe.next()).collect();
                    let len = complete_type_len(&start)?;
                    start[..len].iter().collect()
                };
                for _ in 0..elem.chars().count() {
                    sig.next();
                }
                self.align(alignment(elem.chars().next().unwrap_or('y')))?;
                let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("array past the end")?;
                let mut items = Vec::new();
                while self.pos < end {
                    let mut s = elem.chars().peekable();
                    items.push(self.value(&mut s)?);
                }
                if self.pos != end {
                    return Err("array elements overrun its length".into());
                }
                Value::Array(items)
            }
            '(' | '{' => {
                self.align(8)?;
                let close = if c == '(' { ')' } else { '}' };
                let mut items = Vec::new();
                while sig.peek().is_some_and(|&x| x != close) {
                    items.push(self.value(sig)?);
                }
                if sig.next() != Some(close) || items.is_empty() {
                    return Err("bad struct signature".into());
                }
                Value::Struct(items)
            }
            other => return Err(format!("unknown type code {other:?}")),
        };
        self.depth -= 1;
        Ok(v)
    }
}

/// The length in characters of the single complete type that starts `s`.
fn complete_type_len(s: &[char]) -> Result<usize, String> {
    let mut depth = 0usize;
    for (i, &c) in s.iter().enumerate() {
        match c {
            'a' => continue,
            '(' | '{' => depth += 1,
            ')' | '}' => depth = depth.checked_sub(1).ok_or("unbalanced signature")?,
            _ => {}
        }
        if depth == 0 {
            return Ok(i + 1);
        }
        if depth > MAX_DEPTH {
            return Err("signature nested too deeply".into());
        }
    }
    Err("signature ends early".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as systemd would write it: return (2) to serial 7, signature `a{sv}`.
    fn reply(body: &[u8], sig: &str) -> Vec<u8> {
        let mut fields = Vec::new();
        fields.push(REPLY_SERIAL);
        put_sig(&mut fields, "u");
        pad(&mut fields, 4);
        fields.extend_from_slice(&7u32.to_le_bytes());
        pad(&mut fields, 8);
        fields.push(SIGNATURE);
        put_sig(&mut fields, "g");
        put_sig(&mut fields, sig);
        let mut m = vec![b'l', 2, 1, 1];
        m.extend_from_slice(&(body.len() as u32).to_le_bytes());
        m.extend_from_slice(&9u32.to_le_bytes());
        m.extend_from_slice(&(fields.len() as u32).to_le_bytes());
        m.extend_from_slice(&fields);
        pad(&mut m, 8);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn a_call_decodes_to_what_was_sent() {
        let m = method_call(3, Some("org.x"), "/a/b", "org.x.I", "Do", &[Arg::Strs(&[]), Arg::Strs(&["*.timer", "x"])]);
        let p = parse(&m).unwrap();
        assert_eq!(p.kind, 1);
        assert_eq!(
            p.body,
            vec![Value::Array(vec![]), Value::Array(vec![Value::Str("*.timer".into()), Value::Str("x".into())])]
        );
    }

    #[test]
    fn a_property_dict_reply_decodes() {
        // a{sv} with {"LastTriggerUSec": <t 42>}
        let mut body = Vec::new();
        body.extend_from_slice(&0u32.to_le_bytes());
        pad(&mut body, 8);
        let start = body.len();
        put_str(&mut body, "LastTriggerUSec");
        put_sig(&mut body, "t");
        pad(&mut body, 8);
        body.extend_from_slice(&42u64.to_le_bytes());
        let n = (body.len() - start) as u32;
        body[0..4].copy_from_slice(&n.to_le_bytes());
        let p = parse(&reply(&body, "a{sv}")).unwrap();
        assert_eq!(p.kind, 2);
        assert_eq!(p.reply_serial, Some(7));
        let Value::Array(entries) = &p.body[0] else { panic!() };
        assert_eq!(
            entries[0],
            Value::Struct(vec![Value::Str("LastTriggerUSec".into()), Value::Variant(Box::new(Value::U64(42)))])
        );
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        let good = method_call(1, None, "/", "a.b", "C", &[Arg::Str("x")]);
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err());
        }
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).is_err());
        // A variant nesting itself past the depth limit.
        let mut body = Vec::new();
        for _ in 0..100 {
            put_sig(&mut body, "v");
        }
        assert!(parse(&reply(&body, "v")).is_err());
        // Every single-byte corruption decodes or fails; none panics.
        for i in 0..good.len() {
            for b in [0u8, 0xff, b'a', b'('] {
                let mut m = good.clone();
                m[i] = b;
                let _ = parse(&m);
            }
        }
    }
}

#[cfg(test)]
mod seeds {
    /// The fuzz corpus seeds are real messages (a call, a property reply with a string,
    /// a boolean and a u64, an error): each decodes.
    #[test]
    fn fuzz_seeds_decode() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/dbus_message");
        for name in ["call", "reply_props", "error"] {
            let b = std::fs::read(format!("{dir}/{name}")).unwrap();
            let m = super::parse(&b).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!m.body.is_empty(), "{name}");
        }
        let b = std::fs::read(format!("{dir}/reply_props")).unwrap();
        let m = super::parse(&b).unwrap();
        assert_eq!(m.reply_serial, Some(3));
        let super::Value::Array(e) = &m.body[0] else { panic!() };
        assert_eq!(e.len(), 3);
        let b = std::fs::read(format!("{dir}/error")).unwrap();
        assert_eq!(super::parse(&b).unwrap().error_name.as_deref(), Some("org.freedesktop.systemd1.NoSuchUnit"));
    }
}
