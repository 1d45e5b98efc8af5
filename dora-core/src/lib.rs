//! The shared vocabulary of dora: the dataflow descriptor, the cluster
//! resources, and their validation with errors that point at the file,
//! line and column of every mistake.
//!
//! Nothing here touches the network. Start with [`check::check_file`] to
//! validate any dora file, [`descriptor::Dataflow`] for dataflows and
//! [`resource::Resource`] for cluster resources.

pub mod channel;
pub mod check;
pub mod config;
pub mod descriptor;
pub mod diagnostic;
mod duration;
pub mod id;
pub mod log;
pub mod protocol;
pub mod relay;
pub mod resource;
pub mod schema;
pub mod selector;
mod size;
pub mod spread;
pub mod substitute;
pub mod suggest;
pub mod yaml;

pub use duration::{Duration, DurationError};
pub use size::{ByteSize, ByteSizeError};
