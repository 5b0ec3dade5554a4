//! Facts as policies see them: typed, read-only Rhai objects with a getter per field,
//! reading the Rust model in place (no copied tree). A field a type does not have is an
//! error at the line that reads it (`unknown fact field 'nmae' of Timer (fields: …)`),
//! never a silent `()`: a mistyped name must not make a gate pass. Optional fields
//! that are unset read as `()`; lists are arrays; modes are integers (`0o644`).
//!
//! Maps keyed by data — `unit.settings.Section.Key`, `ctx.params` entries' values,
//! `host.paths[p]` — are the exception where absence is an answer: a section a unit does
//! not set reads as `()`. `ctx.params` itself is strict (a parameter the header does not
//! declare is an error).

mod model;
pub mod subject;
pub mod targets;
pub mod view;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Position};

pub use model::{Getters, Params, UnitObj};
pub use subject::Subject;
pub use view::{HostView, ScopeView};

/// A fact type with named fields.
pub trait Fields: Clone + Send + Sync + 'static {
    /// The type name policies see in errors and `type_of`.
    const NAME: &'static str;
    /// Every field, in documentation order.
    const NAMES: &'static [&'static str];
    /// A field's value; `None` when the type has no such field.
    fn field(&self, name: &str) -> Option<Dynamic>;
}

/// Conversion of model values into Rhai values.
pub trait ToDyn {
    fn to_dyn(&self) -> Dynamic;
}

impl ToDyn for String {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from(ImmutableString::from(self.as_str()))
    }
}
impl ToDyn for str {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from(ImmutableString::from(self))
    }
}
impl ToDyn for &str {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from(ImmutableString::from(*self))
    }
}
impl ToDyn for bool {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_bool(*self)
    }
}
impl ToDyn for u32 {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_int(i64::from(*self))
    }
}
impl ToDyn for u64 {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToDyn for i64 {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_int(*self)
    }
}
impl ToDyn for usize {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToDyn for Dynamic {
    fn to_dyn(&self) -> Dynamic {
        self.clone()
    }
}
impl<T: ToDyn> ToDyn for Option<T> {
    fn to_dyn(&self) -> Dynamic {
        self.as_ref().map_or(Dynamic::UNIT, ToDyn::to_dyn)
    }
}
impl<T: ToDyn> ToDyn for Vec<T> {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from_array(self.iter().map(ToDyn::to_dyn).collect::<Array>())
    }
}
impl<T: Fields> ToDyn for T {
    fn to_dyn(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }
}

/// Implements `Fields` from a list of `"name" => expression` (the expression reads the
/// value through the bound name).
macro_rules! fields {
    ($ty:ty, $name:literal, |$s:ident| { $($key:literal => $val:expr),* $(,)? }) => {
        impl $crate::policy::bind::Fields for $ty {
            const NAME: &'static str = $name;
            const NAMES: &'static [&'static str] = &[$($key),*];
            fn field(&self, name: &str) -> Option<rhai::Dynamic> {
                let $s = self;
                Some(match name {
                    $($key => $crate::policy::bind::ToDyn::to_dyn(&$val),)*
                    _ => return None,
                })
            }
        }
    };
}
pub(crate) use fields;

/// Implements `Fields` for a handle that reads a model value in place (`$get` returns a
/// reference): reading `t.exec` hands out handles instead of copying every command.
macro_rules! handle {
    ($h:ty => $t:ty, |$s:ident| $get:expr) => {
        impl $crate::policy::bind::Fields for $h {
            const NAME: &'static str = <$t as $crate::policy::bind::Fields>::NAME;
            const NAMES: &'static [&'static str] = <$t as $crate::policy::bind::Fields>::NAMES;
            fn field(&self, name: &str) -> Option<rhai::Dynamic> {
                let $s = self;
                <$t as $crate::policy::bind::Fields>::field($get, name)
            }
        }
    };
}
pub(crate) use handle;

type Res<T> = Result<T, Box<EvalAltResult>>;

fn runtime<T>(msg: String) -> Res<T> {
    Err(EvalAltResult::ErrorRuntime(msg.into(), Position::NONE).into())
}

/// The error for a field a type does not have, listing the ones it has.
fn unknown<T: Fields>(key: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        format!("unknown fact field '{key}' of {} (fields: {})", T::NAME, T::NAMES.join(", ")).into(),
        Position::NONE,
    )
    .into()
}

/// Registers a fact type: a getter per field, a strict `["name"]` indexer (which also
/// answers `.name` for names without a getter, and so fails on unknown ones), `keys`,
/// `contains`/`in` (is it a field), `has` (a field that is set), `to_string`.
pub fn register_type<T: Fields>(e: &mut Engine) {
    e.register_type_with_name::<T>(T::NAME);
    for &n in T::NAMES {
        e.register_get(n, move |x: &mut T| x.field(n).unwrap_or(Dynamic::UNIT));
    }
    e.register_indexer_get(|x: &mut T, k: &str| -> Res<Dynamic> { x.field(k).ok_or_else(|| unknown::<T>(k)) });
    e.register_fn("keys", |_: &mut T| -> Array { T::NAMES.iter().map(|n| Dynamic::from(*n)).collect() });
    e.register_fn("contains", |_: &mut T, k: &str| T::NAMES.contains(&k));
    e.register_fn("has", |x: &mut T, k: &str| -> Res<bool> {
        Ok(!x.field(k).ok_or_else(|| unknown::<T>(k))?.is_unit())
    });
    e.register_fn("to_string", |_: &mut T| format!("<{}>", T::NAME));
    e.register_fn("to_debug", |_: &mut T| format!("<{}>", T::NAME));
}

/// Registers every fact type and the subject types.
pub fn register_all(e: &mut Engine) {
    model::register(e);
    subject::register(e);
    targets::register_types(e);
}
