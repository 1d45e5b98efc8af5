//! `dora-runtime`: the node that hosts a runtime node's operators, many in
//! one process, on one thread.
//!
//! - [`library`] loads operator libraries (Rust and C share one ABI);
//! - [`Runtime`] queues every operator's events, runs the most urgent one
//!   first (by `priority`), flags late events (by `deadline`), passes
//!   messages between its operators in-process without a copy, keeps each
//!   operator's state, and restarts an operator that panicked;
//! - [`run_node`] joins a dataflow as a node and drives the runtime with
//!   the node's events.

mod call;
pub mod library;
mod node;
mod parameters;
mod payload;
mod runtime;

pub use call::{hold_input, HeldInput};
pub use node::{run_node, run_node_with};
pub use runtime::{Nowhere, Outlet, PythonLoader, Runtime, RuntimeError};
