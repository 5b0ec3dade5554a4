//! Facts as policies see them: an immutable tree shared by `Arc`, exposed to Rhai as the
//! read-only type `Fact`. Property access (`timer.runs_as.user`) and indexing
//! (`unit.settings["Service"]`) read it; there are no setters, so a policy cannot change
//! what another policy sees, and passing a fact to 30,000 `check` calls costs an `Arc`
//! clone each, not a deep copy. Modes arrive as integers (`0o644`), not "0644".

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Position};

/// One node of the fact tree.
#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(ImmutableString),
    Arr(Arc<Vec<Node>>),
    Obj(Arc<BTreeMap<String, Node>>),
}

impl Node {
    /// Builds the tree from a serde value; `mode` strings become integers.
    pub fn from_json(v: &serde_json::Value) -> Node {
        Self::build(v, None)
    }

    fn build(v: &serde_json::Value, key: Option<&str>) -> Node {
        use serde_json::Value as V;
        match v {
            V::Null => Node::Null,
            V::Bool(b) => Node::Bool(*b),
            V::Number(n) => n.as_i64().map_or_else(|| Node::Float(n.as_f64().unwrap_or(0.0)), Node::Int),
            V::String(s) if key == Some("mode") => {
                i64::from_str_radix(s, 8).map_or_else(|_| Node::Str(s.as_str().into()), Node::Int)
            }
            V::String(s) => Node::Str(s.as_str().into()),
            V::Array(a) => Node::Arr(Arc::new(a.iter().map(|x| Self::build(x, None)).collect())),
            V::Object(o) => Node::Obj(Arc::new(o.iter().map(|(k, x)| (k.clone(), Self::build(x, Some(k)))).collect())),
        }
    }

    /// The Rhai value: primitives as themselves, objects as `Fact`, arrays as arrays.
    pub fn to_dynamic(&self) -> Dynamic {
        match self {
            Node::Null => Dynamic::UNIT,
            Node::Bool(b) => (*b).into(),
            Node::Int(i) => (*i).into(),
            Node::Float(f) => (*f).into(),
            Node::Str(s) => s.clone().into(),
            Node::Arr(a) => Dynamic::from_array(a.iter().map(Node::to_dynamic).collect::<Array>()),
            Node::Obj(_) => Dynamic::from(Fact(self.clone())),
        }
    }
}

/// A read-only object of the fact tree.
#[derive(Debug, Clone)]
pub struct Fact(pub Node);

impl Fact {
    fn obj(&self) -> Option<&BTreeMap<String, Node>> {
        match &self.0 {
            Node::Obj(m) => Some(m),
            _ => None,
        }
    }

    /// A field, or `()` when absent (optional fields are simply missing).
    pub fn get(&self, key: &str) -> Dynamic {
        self.obj().and_then(|m| m.get(key)).map_or(Dynamic::UNIT, Node::to_dynamic)
    }
}

/// Registers `Fact`: property/index reads, `keys`, `contains`/`in`, `to_json`.
pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Fact>("Fact");
    engine.register_indexer_get(|f: &mut Fact, key: &str| -> Dynamic { f.get(key) });
    engine.register_fn("keys", |f: &mut Fact| -> Array {
        f.obj().map(|m| m.keys().map(|k| Dynamic::from(k.clone())).collect()).unwrap_or_default()
    });
    engine.register_fn("contains", |f: &mut Fact, key: &str| f.obj().is_some_and(|m| m.contains_key(key)));
    engine.register_fn("has", |f: &mut Fact, key: &str| {
        f.obj().is_some_and(|m| m.get(key).is_some_and(|v| !matches!(v, Node::Null)))
    });
    engine.register_fn("to_string", |f: &mut Fact| to_json(&f.0).to_string());
    engine.register_fn("to_debug", |f: &mut Fact| to_json(&f.0).to_string());
    engine.register_fn("to_json", |f: &mut Fact| to_json(&f.0).to_string());
    // `fact.list[0]` makes Rhai write `list` back after indexing; that write-back carries
    // the unchanged value and is accepted. Any real change is refused.
    engine.register_indexer_set(|f: &mut Fact, key: &str, v: Dynamic| -> Result<(), Box<EvalAltResult>> {
        if format!("{:?}", f.get(key)) == format!("{v:?}") {
            return Ok(());
        }
        Err(EvalAltResult::ErrorRuntime(format!("facts are read-only (cannot set '{key}')").into(), Position::NONE)
            .into())
    });
}

fn to_json(n: &Node) -> serde_json::Value {
    use serde_json::Value as V;
    match n {
        Node::Null => V::Null,
        Node::Bool(b) => V::Bool(*b),
        Node::Int(i) => V::from(*i),
        Node::Float(f) => V::from(*f),
        Node::Str(s) => V::String(s.to_string()),
        Node::Arr(a) => V::Array(a.iter().map(to_json).collect()),
        Node::Obj(m) => V::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}
