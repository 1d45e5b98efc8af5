//! How long a node's start-up may wait, and who may cut it short.

use std::time::{Duration, Instant};

use dora_core::protocol::START_TIMEOUT;

use crate::error::InitError;

/// How often a waiting start-up asks whether to give up: often enough that
/// Ctrl-C feels immediate, rarely enough to cost nothing.
const INTERRUPT_CHECK: Duration = Duration::from_millis(50);

/// The deadline of a node's start-up barrier, which agrees with the
/// launcher's ([`START_TIMEOUT`]), and a question asked now and then
/// while it waits: whether to give up (a Python node asks whether Ctrl-C
/// was pressed).
pub(crate) struct StartWait<'a> {
    deadline: Instant,
    next_check: Instant,
    interrupted: &'a mut dyn FnMut() -> bool,
}

impl<'a> StartWait<'a> {
    pub(crate) fn new(interrupted: &'a mut dyn FnMut() -> bool) -> Self {
        let now = Instant::now();
        StartWait {
            deadline: now + START_TIMEOUT,
            next_check: now,
            interrupted,
        }
    }

    /// An error when start-up must end now: interrupted, or out of time.
    pub(crate) fn check(&mut self) -> Result<(), InitError> {
        let now = Instant::now();
        if now >= self.next_check {
            self.next_check = now + INTERRUPT_CHECK;
            if (self.interrupted)() {
                return Err(InitError::Interrupted);
            }
        }
        if now >= self.deadline {
            return Err(InitError::StartTimeout(START_TIMEOUT));
        }
        Ok(())
    }

    /// How long to wait before the next [`check`](Self::check).
    pub(crate) fn slice(&self) -> Duration {
        self.next_check
            .min(self.deadline)
            .saturating_duration_since(Instant::now())
    }
}
