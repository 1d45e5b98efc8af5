//! The trait a Rust operator implements.

use crate::context::Context;
use crate::parameters::Parameters;

/// What an operator wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Keep sending events.
    Continue,
    /// This operator is done; it gets no more events.
    Stop,
    /// Stop every operator of the runtime.
    StopAll,
}

/// One event for an operator. Everything in it is borrowed for the call.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A message on one of the operator's inputs.
    Input {
        /// The operator's id for the input.
        id: &'a str,
        data: &'a [u8],
        /// When the message was sent, in nanoseconds since the Unix epoch.
        timestamp_ns: u64,
        /// What the sender attached to the message.
        parameters: Parameters<'a>,
        /// The input has a `deadline` and the message waited longer.
        late: bool,
    },
    /// The input will get no more messages.
    InputClosed { id: &'a str },
    /// The dataflow is stopping.
    Stop,
}

/// A Rust operator. Export it from a `cdylib` with
/// [`register_operator!`](crate::register_operator).
///
/// A panic in either method is caught; the runtime logs it and restarts
/// the operator as its node's `restart_policy` says. What the operator
/// keeps in [`Context::set_state`] survives the restart.
pub trait Operator: Sized + 'static {
    /// Makes the operator; its state from before a restart is readable
    /// through `context`.
    fn init(context: &mut Context<'_>) -> Result<Self, String>;

    /// Handles one event. An `Err` is logged with the operator's id and
    /// counted; the operator keeps running.
    fn on_event(&mut self, event: &Event<'_>, context: &mut Context<'_>) -> Result<Status, String>;
}
