//! The event stream as an async `Stream`, for nodes written with an async
//! runtime (tokio, async-std, smol: any of them).
//!
//! Polling never blocks: it takes what is ready, as the blocking iterator
//! does. When nothing is, a small thread of the stream's own waits on the
//! node's wake-up channel (and until the next timer) and wakes the task.
//!
//! ```no_run
//! use dora_node_api::{DoraNode, Event};
//! use futures_core::Stream;
//! use std::pin::pin;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (_node, events) = DoraNode::init_from_env()?;
//! let mut events = pin!(events);
//! while let Some(event) = std::future::poll_fn(|cx| events.as_mut().poll_next(cx)).await {
//!     if matches!(event, Event::Stop) {
//!         break;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dora_core::protocol::Signal;

use crate::event::Event;
use crate::stream::EventStream;
use crate::transport::shm::{Shm, Wait};

/// How long the waking thread waits at most before it looks whether the
/// stream is gone.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// What the stream and its waking thread share.
#[derive(Default)]
struct Shared {
    waker: Mutex<Option<Waker>>,
    /// When the next timer is due, in microseconds after `origin`; 0 for
    /// no timer.
    next_timer_us: AtomicU64,
    done: AtomicBool,
}

/// The thread that wakes the task when the node's wake-up channel fires.
pub(crate) struct AsyncWaker {
    shared: Arc<Shared>,
    origin: Instant,
    thread: Option<JoinHandle<()>>,
}

impl AsyncWaker {
    fn start(dataflow_id: String, wakeup: String, nodes: usize) -> AsyncWaker {
        let shared = Arc::new(Shared::default());
        let origin = Instant::now();
        let thread_shared = shared.clone();
        let thread = std::thread::spawn(move || {
            // Its own shared-memory node and listener: ports stay in the
            // thread that made them.
            let listener = Shm::open(&dataflow_id, "async-waker").and_then(|shm| {
                let listener = shm.listener(&wakeup, Signal::MAX_ID, nodes)?;
                Ok((shm, listener))
            });
            while !thread_shared.done.load(Ordering::Relaxed) {
                let next = thread_shared.next_timer_us.load(Ordering::Relaxed);
                let until_timer = (next > 0).then(|| {
                    (origin + Duration::from_micros(next)).saturating_duration_since(Instant::now())
                });
                let timeout = until_timer.map_or(CHECK_EVERY, |t| t.min(CHECK_EVERY));
                match &listener {
                    Ok((_, listener)) => {
                        let _ = listener.wait(Wait::For(timeout), |_| {});
                    }
                    // Without a listener, wake the task now and then: slower,
                    // but nothing is missed.
                    Err(_) => std::thread::sleep(timeout.min(Duration::from_millis(1))),
                }
                if let Some(waker) = thread_shared.waker.lock().ok().and_then(|mut w| w.take()) {
                    waker.wake();
                }
            }
        });
        AsyncWaker {
            shared,
            origin,
            thread: Some(thread),
        }
    }
}

impl Drop for AsyncWaker {
    fn drop(&mut self) {
        self.shared.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        let next_timer = this.next_timer();
        if this.async_waker.is_none() {
            this.always_notify();
        }
        let waker = this.async_waker.get_or_insert_with(|| {
            AsyncWaker::start(
                this.dataflow_id.clone(),
                this.wakeup_channel.clone(),
                this.dataflow_nodes,
            )
        });
        // Register before looking, so that a wake-up between the look and
        // the registration is not lost.
        if let Ok(mut slot) = waker.shared.waker.lock() {
            *slot = Some(cx.waker().clone());
        }
        let next_timer_us = next_timer.map_or(0, |t| {
            t.saturating_duration_since(waker.origin).as_micros().max(1) as u64
        });
        waker
            .shared
            .next_timer_us
            .store(next_timer_us, Ordering::Relaxed);
        this.mark_active();
        match this.try_next() {
            Some(event) => Poll::Ready(Some(event)),
            None if this.is_ended() => Poll::Ready(None),
            None => {
                this.mark_waiting();
                Poll::Pending
            }
        }
    }
}
