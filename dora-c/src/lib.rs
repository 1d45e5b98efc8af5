//! `libdora`: dora for C. `include/dora.h` (generated from this crate by
//! cbindgen, and committed) declares:
//!
//! - the node API (`node.rs`, `event.rs`, `params.rs`): join a dataflow,
//!   take events, read inputs in place, send outputs by copy or written in
//!   place in shared memory;
//! - structured logs (`log.rs`): `dora_log`;
//! - through `include/dora_operator.h` (generated from
//!   `dora_operator_api::abi`), the operator ABI that C operators
//!   implement and `dora-runtime` loads.
//!
//! Every function checks its pointers: NULL or invalid arguments return an
//! error code (or NULL) and set the message that [`dora_last_error`]
//! returns. No function panics across the boundary.

mod error;
mod event;
mod log;
mod node;
mod params;

pub use error::dora_last_error;
pub use event::*;
pub use log::*;
pub use node::*;
pub use params::*;

// The status codes are the operator ABI's (`dora_operator.h`, which
// `dora.h` includes), so that each failure has one code.
pub use dora_operator_api::abi::{
    DORA_NOT_FOUND, DORA_NO_MEMORY, DORA_TOO_MANY_BUFFERS, DORA_UNDECLARED_OUTPUT, DORA_WRONG_TYPE,
};
