//! `libdora`: dora for C. `include/dora.h` (generated from this crate by
//! cbindgen, and committed) declares:
//!
//! - the node API (`node.rs`, `event.rs`, `params.rs`): join a dataflow,
//!   take events, read inputs in place, send outputs by copy or written in
//!   place in shared memory;
//! - through `include/dora_operator.h` (generated from
//!   `dora_operator_api::abi`), the operator ABI that C operators
//!   implement and `dora-runtime` loads.
//!
//! Every function checks its pointers: NULL or invalid arguments return an
//! error code (or NULL) and set the message that [`dora_last_error`]
//! returns. No function panics across the boundary.

mod error;
mod event;
mod node;
mod params;

pub use error::dora_last_error;
pub use event::*;
pub use node::*;
pub use params::*;

/// The item was not there (a parameter key, say).
pub const DORA_NOT_FOUND: i32 = -4;
/// The item has another type than the one asked for.
pub const DORA_WRONG_TYPE: i32 = -5;
/// The output is not one the node declares under `outputs:` in the
/// dataflow.
pub const DORA_UNDECLARED_OUTPUT: i32 = -6;
/// There is no shared memory for a message this large: the size is beyond
/// what the machine can map, or its memory is used up.
pub const DORA_NO_MEMORY: i32 = -7;
/// The node already holds as many buffers of this output, written and not
/// yet sent, as it may; send or discard one first.
pub const DORA_TOO_MANY_BUFFERS: i32 = -8;
