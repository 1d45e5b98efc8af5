//! How messages move. On one machine: iceoryx2 shared memory, one
//! publish-subscribe service per output and one event service per node
//! for its wake-ups and control signals.

pub(crate) mod awake;
mod cause;
pub(crate) mod shm;

pub use shm::{claim_run, remove_abandoned_runs, remove_run_files};
