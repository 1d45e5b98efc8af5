//! The dora communication library: a node joins its dataflow, receives its
//! inputs as a stream of events, and sends outputs through shared memory.
//!
//! ```no_run
//! use dora_node_api::{DoraNode, Event};
//!
//! let (mut node, events) = DoraNode::init_from_env()?;
//! for event in events {
//!     match event {
//!         Event::Input { id, data, .. } if id.as_str() == "tick" => {
//!             node.send_output("message", Default::default(), b"hello")?;
//!         }
//!         Event::Input { data, .. } => println!("got {} bytes", data.len()),
//!         Event::Stop => break,
//!         _ => {}
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The pieces: [`DoraNode`] sends (`node.rs`), [`EventStream`] receives
//! (`stream.rs`, and as an async `Stream` in `stream_async.rs`), [`Event`] and [`Data`] are what arrives (`event.rs`),
//! [`transport`] moves the bytes, [`launch`] is the launcher's side of a run,
//! and [`log`](mod@log) gives nodes structured logs.

mod error;
mod event;
pub mod launch;
pub mod log;
mod mapped;
mod metadata;
mod node;
mod start;
pub mod stats;
mod stream;
mod stream_async;
pub mod transport;

pub use dora_core::id::{DataId, NodeId};
pub use error::{InitError, RecvError, SendError, TransportError, TransportErrorKind};
pub use event::{Data, Event};
pub use metadata::{Metadata, Parameter, Parameters};
pub use node::{now_ns, DoraNode, LoanFull, OutputLoan};
pub use stream::{EventStream, InputCounts};
