//! dora operators: light plugins that `dora-runtime` hosts by the thousand
//! in one process. An operator is a library that exports the C ABI of
//! [`abi`]; a Rust operator implements [`Operator`] and exports it with
//! [`register_operator!`]:
//!
//! ```
//! use dora_operator_api::{register_operator, Context, Event, Operator, Status};
//!
//! #[derive(Default)]
//! struct Doubler;
//!
//! impl Operator for Doubler {
//!     fn init(_context: &mut Context<'_>) -> Result<Self, String> {
//!         Ok(Doubler)
//!     }
//!
//!     fn on_event(&mut self, event: &Event<'_>, context: &mut Context<'_>) -> Result<Status, String> {
//!         if let Event::Input { id: "number", data, .. } = event {
//!             let doubled: Vec<u8> = data.iter().map(|b| b.wrapping_mul(2)).collect();
//!             context.send_output("doubled", &doubled).map_err(|e| e.to_string())?;
//!         }
//!         Ok(Status::Continue)
//!     }
//! }
//!
//! register_operator!(Doubler);
//! ```
//!
//! Build it as a `cdylib` and name the library under `shared-library:` in
//! the dataflow.

pub mod abi;
mod context;
#[doc(hidden)]
pub mod ffi;
mod operator;
mod panic;
mod parameters;

pub use context::{Context, OutputError};
pub use operator::{Event, Operator, Status};
pub use parameters::{ParameterList, ParameterValue, Parameters};
