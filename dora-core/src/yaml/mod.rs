//! YAML with positions: a [`Value`] tree from [`parse`], and typed values
//! out of it with [`from_value`].

mod de;
mod tree;

pub use de::{from_value, from_value_partial, struct_keys, DeError};
pub use tree::{parse, Position, SyntaxError, Value, ValueKind};
