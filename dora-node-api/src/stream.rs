//! The event stream of a node: its inputs, its timers, and the launcher's
//! signals, all behind one wake-up channel.
//!
//! A node waits on exactly one thing, its wake-up listener, with a timeout
//! set by its next timer. Senders notify it after each message; the
//! launcher notifies it to stop or to close inputs. Inputs are read round
//! robin so a busy input cannot starve the others.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dora_core::config::{NodeConfig, SourceLink};
use dora_core::descriptor::{InputSource, Layout, QueuePolicy};
use dora_core::id::DataId;
use dora_core::protocol::{Signal, StartPhase};

use crate::error::{InitError, RecvError, TransportError};
use crate::event::{Data, Event};
use crate::metadata::{self, Metadata};
use crate::start::StartWait;
use crate::stats::{kind, Counter, Counters, Liveness};
use crate::transport::awake::AwakeFlag;
use crate::transport::remote;
use crate::transport::shm::{
    ControlReceiver, Listener, Shm, Wait, HELLO_SEQUENCE, MAX_HELD_PER_INPUT,
};
use crate::transport::{Arrival, InputPort};

/// How often start-up looks for a sender's hello. Hellos are sent right
/// after the connect signal, so they arrive within milliseconds; polling
/// this often keeps start-up quick without keeping a core busy.
const HELLO_POLL: Duration = Duration::from_micros(200);

struct Input {
    id: DataId,
    /// `None` once the input is closed.
    port: Option<InputPort>,
    /// The index (in `NodeConfig::nodes`) of the node that feeds it.
    source: Option<usize>,
    last_sequence: Option<u64>,
    /// How many of this input's messages the node holds in place; see
    /// [`Data`].
    held: Arc<AtomicUsize>,
    /// Messages read and dropped by every process of the node (for the run
    /// summary), and what earlier processes had counted when this one
    /// started: this process's counts are the difference.
    received: Counter,
    dropped: Counter,
    received_before: u64,
    dropped_before: u64,
    /// The source has ended; close once the queue is empty.
    closing: bool,
    /// For an input from another machine: when the launcher said its
    /// source ended, and whether the last thing that came was its
    /// sender's end. What the sender sent last may still be on the way
    /// when the launcher hears that it ended; the input closes once the
    /// end has come, or [`REMOTE_END_GRACE`] after the launcher's word (a
    /// sender that crashed sends no end).
    closing_since: Option<Instant>,
    end_seen: bool,
    closed: bool,
    /// Its `input_timeout`, when messages last came (once one has), and
    /// whether it is closed for the node until the next one.
    timeout: Option<(Duration, Counter)>,
    last_message: Option<Instant>,
    timed_out: bool,
    /// The layout its edge's type gives payloads, and the count of those
    /// that did not fit.
    layout: Option<(Layout, Counter)>,
}

/// What one pass over the inputs found.
enum Polled {
    Event(Event),
    /// A message refused for not fitting its type.
    Refused,
    Nothing,
}

/// How long an input from another machine whose source ended waits for
/// that sender's last messages; see `Input::closing_since`.
const REMOTE_END_GRACE: Duration = Duration::from_secs(2);

/// How many messages in a row a busy node reads before it takes its
/// signals without waiting.
const SIGNAL_CHECK_EVERY: u32 = 32;

struct Timer {
    input: DataId,
    period: Duration,
    next: Instant,
}

/// Counts of one input, for the node and for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputCounts {
    pub received: u64,
    /// Messages that the `drop_oldest` policy dropped before they were read.
    pub dropped: u64,
}

/// The events of a node, in order. Iterate over it, or use
/// [`recv_timeout`](Self::recv_timeout) to wait with a time limit.
pub struct EventStream {
    listener: Listener,
    /// Tells senders whether this node needs a notify; see `awake.rs`.
    awake: AwakeFlag,
    pub(crate) dataflow_id: String,
    pub(crate) wakeup_channel: String,
    /// How many nodes the dataflow has: channels are sized from it.
    pub(crate) dataflow_nodes: usize,
    /// Started when the stream is first polled as an async `Stream`.
    pub(crate) async_waker: Option<crate::stream_async::AsyncWaker>,
    /// Tells which upstream nodes have ended.
    control: ControlReceiver,
    inputs: Vec<Input>,
    timers: Vec<Timer>,
    pending: VecDeque<Event>,
    /// Where the next round-robin poll starts.
    next_input: usize,
    stop_delivered: bool,
    /// Messages read in a row without sleeping.
    busy_polls: u32,
    /// Reused buffer for the signal ids taken from the wake-up channel.
    signals: Vec<usize>,
    /// How long to poll before sleeping; see [`EventStream::set_spin`].
    spin: Duration,
    /// Where errors are counted for the run summary.
    counters: std::sync::Arc<Counters>,
    /// When the node last took an event, for a launcher that watches it
    /// (`health_check_timeout`).
    liveness: Option<Liveness>,
    /// The start-up phases the launcher has ended.
    phases_done: Vec<StartPhase>,
    /// This process is a restart of the node.
    restarted: bool,
    // Kept last: dropped after the ports above.
    _shm: std::rc::Rc<Shm>,
}

impl EventStream {
    pub(crate) fn new(
        shm: std::rc::Rc<Shm>,
        config: &NodeConfig,
        counters: &std::sync::Arc<Counters>,
        session: Option<&Arc<remote::Session>>,
    ) -> Result<EventStream, InitError> {
        let listener = shm.listener(&config.wakeup, Signal::MAX_ID, config.nodes.len())?;
        let awake = AwakeFlag::open(&config.dataflow_id, &config.wakeup)?;
        // Until it first wakes, the node wants every notify.
        awake.set_may_sleep();
        let control = shm.control_receiver(&config.control, config.nodes.len())?;
        // How messages from other machines wake the node, made with the
        // first such input.
        let mut wake: Option<Arc<remote::Wake>> = None;
        let mut inputs = Vec::new();
        let mut timers = Vec::new();
        let start = Instant::now();
        for (id, input) in &config.inputs {
            match &input.source {
                InputSource::Timer(interval) => {
                    if let Some(period) = interval.period() {
                        timers.push(Timer {
                            input: id.clone(),
                            period,
                            next: start + period,
                        });
                    }
                }
                // `dora/logs` comes from the launcher's relay node like any
                // other node's output.
                InputSource::Output(_) | InputSource::Logs(_) => {
                    // `dora/logs` is sent by the relay node.
                    let sender = match &input.source {
                        InputSource::Output(output) => output.node.as_str(),
                        _ => dora_core::relay::RELAY_NODE,
                    };
                    let (Some(channel), Some(settings)) = (&input.channel, input.settings) else {
                        return Err(InitError::BadConfig(format!(
                            "input `{id}` reads `{}` but has no channel to read it from",
                            input.source
                        )));
                    };
                    let port = match (&input.from, session) {
                        (SourceLink::Local, _) => {
                            InputPort::Local(shm.receiver(channel, settings, input.queue_size)?)
                        }
                        (SourceLink::Remote { .. }, Some(session)) => {
                            let wake = match &wake {
                                Some(wake) => wake.clone(),
                                None => wake
                                    .insert(Arc::new(remote::Wake::new(
                                        shm.thread_safe_notifier(
                                            &config.wakeup,
                                            Signal::MAX_ID,
                                            config.nodes.len(),
                                        )?,
                                        AwakeFlag::open(&config.dataflow_id, &config.wakeup)?,
                                    )))
                                    .clone(),
                            };
                            InputPort::Remote(remote::Receiver::new(
                                session,
                                channel,
                                (config.node_id.as_str(), id.as_str()),
                                input.queue_size,
                                input.queue_policy == QueuePolicy::Backpressure,
                                wake,
                            )?)
                        }
                        (SourceLink::Remote { machine }, None) => {
                            return Err(InitError::BadConfig(format!(
                                "input `{id}` reads `{}` from machine `{machine}`, and the node has no network settings (`remote`)",
                                input.source
                            )))
                        }
                    };
                    let received = counters.counter(kind::RECEIVED, id.as_str());
                    let dropped = counters.counter(kind::DROPPED, id.as_str());
                    inputs.push(Input {
                        id: id.clone(),
                        port: Some(port),
                        source: config.nodes.iter().position(|n| n.as_str() == sender),
                        last_sequence: None,
                        held: Arc::new(AtomicUsize::new(0)),
                        received_before: received.get(),
                        dropped_before: dropped.get(),
                        received,
                        dropped,
                        closing: false,
                        closing_since: None,
                        end_seen: false,
                        closed: false,
                        timeout: input.timeout.map(|timeout| {
                            let counter = counters.counter(kind::INPUT_TIMEOUTS, id.as_str());
                            (timeout.as_std(), counter)
                        }),
                        last_message: None,
                        timed_out: false,
                        layout: input.layout.map(|layout| {
                            (layout, counters.counter(kind::TYPE_MISMATCHES, id.as_str()))
                        }),
                    });
                }
            }
        }
        Ok(EventStream {
            listener,
            awake,
            dataflow_id: config.dataflow_id.clone(),
            wakeup_channel: config.wakeup.clone(),
            dataflow_nodes: config.nodes.len(),
            async_waker: None,
            control,
            inputs,
            timers,
            pending: VecDeque::new(),
            next_input: 0,
            stop_delivered: false,
            busy_polls: 0,
            signals: Vec::new(),
            spin: Duration::ZERO,
            phases_done: Vec::new(),
            counters: counters.clone(),
            liveness: Liveness::watched(counters, config.health_check),
            restarted: false,
            _shm: shm,
        })
    }

    /// Opt-in low latency: before going to sleep, keep looking for a new
    /// message for up to `spin`. It costs a busy core for that long after
    /// each message and saves the wake-up (some microseconds) when messages
    /// follow each other closely. Zero (the default) never spins.
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// Polls the inputs until one has a message, `spin` has passed, or
    /// `until` has come.
    fn spin(&mut self, until: Option<Instant>) -> Option<Event> {
        if self.spin.is_zero() {
            return None;
        }
        let end = Instant::now() + self.spin;
        let end = until.map_or(end, |u| u.min(end));
        while Instant::now() < end {
            match self.poll_inputs() {
                Ok(Some(event)) => return Some(event),
                Ok(None) => std::hint::spin_loop(),
                Err(error) => return Some(self.error_event(error)),
            }
        }
        None
    }

    /// The error as an event, counted for the run summary.
    fn error_event(&self, error: RecvError) -> Event {
        let input = match &error {
            RecvError::Transport { input, .. } | RecvError::BadMetadata { input } => input,
            RecvError::Wait(_) => "",
        };
        self.counters.counter(kind::RECEIVE_ERRORS, input).add(1);
        Event::Error(error)
    }

    /// The counts of every input that reads another node.
    pub fn input_counts(&self) -> impl Iterator<Item = (&DataId, InputCounts)> {
        self.inputs.iter().map(|i| {
            (
                &i.id,
                InputCounts {
                    received: i.received.get() - i.received_before,
                    dropped: i.dropped.get() - i.dropped_before,
                },
            )
        })
    }

    /// Waits at most `timeout` for the next event. `None` when none came
    /// in time, or when the stream has ended ([`is_ended`](Self::is_ended)).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Event> {
        self.next_event(Some(Instant::now() + timeout))
    }

    /// Whether the stream has ended: `Stop` was delivered, or every input
    /// is closed and there is no timer. A node with no input at all waits
    /// for `Stop`.
    pub fn is_ended(&self) -> bool {
        self.pending.is_empty()
            && (self.stop_delivered
                || (self.timers.is_empty()
                    && !self.inputs.is_empty()
                    && self.inputs.iter().all(|i| i.closed)))
    }

    /// The next event if one is ready, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<Event> {
        if let Err(error) = self.wait(Wait::No) {
            return Some(self.error_event(error));
        }
        self.next_event(Some(Instant::now()))
    }

    /// When the next timer is due, or the next input times out.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let timeouts = self
            .inputs
            .iter()
            .filter_map(|i| match (&i.timeout, i.last_message) {
                (Some((timeout, _)), Some(last)) if !i.closed && !i.timed_out => {
                    Some(last + *timeout)
                }
                _ => None,
            });
        // An input from another machine closes when its source's end has
        // not come in time.
        let ends = self.inputs.iter().filter_map(|i| {
            let remote = i.port.as_ref().is_some_and(|p| !p.holds_shared_memory());
            i.closing_since
                .filter(|_| remote && !i.end_seen && !i.closed)
                .map(|since| since + REMOTE_END_GRACE)
        });
        self.timers
            .iter()
            .map(|t| t.next)
            .chain(timeouts)
            .chain(ends)
            .min()
    }

    fn next_event(&mut self, deadline: Option<Instant>) -> Option<Event> {
        self.mark_active();
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.stop_delivered |= matches!(event, Event::Stop);
                return Some(event);
            }
            if self.is_ended() {
                return None;
            }
            let now = Instant::now();
            if let Some(event) = self.due_timer(now) {
                return Some(event);
            }
            if let Some(event) = self.timed_out_input(now) {
                return Some(event);
            }
            // A node that always finds a message never sleeps, so it takes
            // its signals (Stop, closed inputs) now and then without waiting;
            // this also keeps the wake-up channel from filling up.
            self.busy_polls += 1;
            if self.busy_polls >= SIGNAL_CHECK_EVERY {
                self.busy_polls = 0;
                if let Err(error) = self.wait(Wait::No) {
                    return Some(self.error_event(error));
                }
                if !self.pending.is_empty() {
                    continue;
                }
            }
            match self.poll_inputs() {
                Ok(Some(event)) => return Some(event),
                Ok(None) => self.busy_polls = 0,
                Err(error) => return Some(self.error_event(error)),
            }
            if !self.pending.is_empty() {
                continue;
            }
            let until = match (deadline, self.next_timer()) {
                (Some(d), Some(t)) => Some(d.min(t)),
                (d, t) => d.or(t),
            };
            if let Some(deadline) = deadline {
                if now >= deadline {
                    return None;
                }
            }
            if let Some(event) = self.spin(until) {
                return Some(event);
            }
            let how = until.map_or(Wait::Forever, |u| {
                Wait::For(u.saturating_duration_since(Instant::now()))
            });
            if let Some(event) = self.sleep(how) {
                return Some(event);
            }
        }
    }

    /// Sleeps until woken or `how` has passed, unless a last look, made
    /// after telling senders to notify again, finds a message.
    fn sleep(&mut self, how: Wait) -> Option<Event> {
        self.awake.set_may_sleep();
        let looked = self.poll_inputs();
        let event = match looked {
            Ok(Some(event)) => Some(event),
            Ok(None) if !self.pending.is_empty() => None,
            Ok(None) => {
                self.mark_waiting();
                let woken = self.wait(how).err().map(|e| self.error_event(e));
                self.mark_active();
                woken
            }
            Err(error) => Some(self.error_event(error)),
        };
        // An async stream's waking thread sleeps on the node's behalf, so
        // it must always be notified.
        if self.async_waker.is_none() {
            self.awake.set_awake();
        }
        event
    }

    /// Records, for a launcher that watches the node, that it takes its
    /// events now.
    pub(crate) fn mark_active(&self) {
        if let Some(liveness) = &self.liveness {
            liveness.active();
        }
    }

    /// Records, for a launcher that watches the node, that it is about to
    /// wait for an event.
    pub(crate) fn mark_waiting(&self) {
        if let Some(liveness) = &self.liveness {
            liveness.waiting();
        }
    }

    /// From now on, every sender notifies this node (see `stream_async`).
    pub(crate) fn always_notify(&self) {
        self.awake.set_may_sleep();
    }

    fn due_timer(&mut self, now: Instant) -> Option<Event> {
        let timer = self
            .timers
            .iter_mut()
            .filter(|t| t.next <= now)
            .min_by_key(|t| t.next)?;
        // A node that fell behind gets one tick now, not a burst: the next
        // one is a whole period away.
        let next = timer.next + timer.period;
        timer.next = if next <= now {
            now + timer.period
        } else {
            next
        };
        Some(Event::Input {
            id: timer.input.clone(),
            metadata: Metadata {
                timestamp_ns: crate::node::now_ns(),
                sequence: 0,
                parameters: Default::default(),
            },
            data: Data::empty(),
        })
    }

    fn poll_inputs(&mut self) -> Result<Option<Event>, RecvError> {
        // A message refused for its type used up its wake-up: look again
        // until a pass finds a message to deliver or none at all (each
        // refusal takes one message, so this ends).
        loop {
            match self.poll_inputs_once()? {
                Polled::Event(event) => return Ok(Some(event)),
                Polled::Nothing => return Ok(None),
                Polled::Refused => {}
            }
        }
    }

    fn poll_inputs_once(&mut self) -> Result<Polled, RecvError> {
        let count = self.inputs.len();
        for step in 0..count {
            let index = (self.next_input + step) % count;
            let input = &mut self.inputs[index];
            if input.closed {
                continue;
            }
            let Some(port) = &input.port else {
                continue;
            };
            // The transport fails a receive once MAX_HELD_PER_INPUT samples
            // are held. Below that, one sample is always left free: the
            // next message is read in place while that keeps one free,
            // else copied and its sample returned at once. Messages from
            // other machines hold no shared memory.
            let shared = port.holds_shared_memory();
            let in_place = !shared || input.held.load(Ordering::Acquire) + 2 <= MAX_HELD_PER_INPUT;
            let arrival = port.receive().map_err(|source| RecvError::Transport {
                input: input.id.to_string(),
                source,
            })?;
            let sample = match arrival {
                Some(Arrival::Message(sample)) => sample,
                // A sender on another machine ended: what it sent and this
                // input never got is counted, by the sequence numbers.
                Some(Arrival::End { sent }) => {
                    // A restarted node cannot tell what came before its
                    // first message (as for the gaps below).
                    let next = match input.last_sequence {
                        Some(last) => last + 1,
                        None if self.restarted => sent,
                        None => 0,
                    };
                    if sent > next {
                        input.dropped.add(sent - next);
                        input.last_sequence = Some(sent - 1);
                    }
                    input.end_seen = true;
                    self.next_input = index;
                    return Ok(Polled::Refused);
                }
                Some(Arrival::Malformed) => {
                    return Err(RecvError::BadMetadata {
                        input: input.id.to_string(),
                    })
                }
                None => {
                    let waits_for_end = !shared
                        && !input.end_seen
                        && input
                            .closing_since
                            .is_some_and(|since| since.elapsed() < REMOTE_END_GRACE);
                    if input.closing && !waits_for_end {
                        input.closed = true;
                        input.port = None;
                        // A node whose input timed out was told already.
                        if !input.timed_out {
                            self.pending.push_back(Event::InputClosed {
                                id: input.id.clone(),
                            });
                        }
                    }
                    continue;
                }
            };
            input.end_seen = false;
            if input.timeout.is_some() {
                input.last_message = Some(Instant::now());
            }
            let recovered = std::mem::take(&mut input.timed_out);
            let header = *sample.header();
            self.next_input = index + 1;
            // Sequences start at 0 and go on across restarts of the sender,
            // so messages dropped before the first one read count too.
            // A restarted node cannot tell what came before its first
            // message: the launcher accounts for what its earlier process
            // left unread.
            let dropped = match input.last_sequence {
                Some(last) => header.sequence.saturating_sub(last + 1),
                None if self.restarted => 0,
                None => header.sequence,
            };
            if dropped > 0 {
                input.dropped.add(dropped);
            }
            input.last_sequence = Some(header.sequence);
            if let Some((layout, mismatches)) = &input.layout {
                if !layout.fits(sample.data()) {
                    // Counted apart from what was received, and not
                    // delivered; the same input is looked at again, since
                    // this message's wake-up is spent. An input that timed
                    // out recovers with the next message delivered.
                    mismatches.add(1);
                    input.timed_out |= recovered;
                    self.next_input = index;
                    return Ok(Polled::Refused);
                }
            }
            input.received.add(1);
            let Some(parameters) = metadata::decode(sample.metadata()) else {
                return Err(RecvError::BadMetadata {
                    input: input.id.to_string(),
                });
            };
            let metadata = Metadata {
                timestamp_ns: header.timestamp_ns,
                sequence: header.sequence,
                parameters,
            };
            let event = Event::Input {
                id: input.id.clone(),
                metadata,
                data: if !in_place {
                    Data::copy(sample.data())
                } else if shared {
                    Data::sample(sample, Some(&input.held))
                } else {
                    Data::sample(sample, None)
                },
            };
            if recovered {
                let id = input.id.clone();
                self.pending.push_front(event);
                return Ok(Polled::Event(Event::InputRecovered { id }));
            }
            return Ok(Polled::Event(event));
        }
        Ok(Polled::Nothing)
    }

    /// An input that got no message for its `input_timeout` (after one
    /// came) is closed for the node, and counted.
    fn timed_out_input(&mut self, now: Instant) -> Option<Event> {
        let input = self.inputs.iter_mut().find(|i| {
            !i.closed
                && !i.timed_out
                && matches!((&i.timeout, i.last_message), (Some((t, _)), Some(last)) if now >= last + *t)
        })?;
        input.timed_out = true;
        if let Some((_, timeouts)) = &input.timeout {
            timeouts.add(1);
        }
        Some(Event::InputClosed {
            id: input.id.clone(),
        })
    }

    /// Takes the signals on the wake-up channel, waiting as `how` says,
    /// and records them.
    fn wait(&mut self, how: Wait) -> Result<(), RecvError> {
        self.take_signals(how).map_err(RecvError::Wait)
    }

    /// See [`wait`](Self::wait).
    fn take_signals(&mut self, how: Wait) -> Result<(), TransportError> {
        let mut ids = std::mem::take(&mut self.signals);
        // A signal handler that ran (Ctrl-C in Python, say) ends the wait:
        // the caller looks again, and may act on the signal.
        let result = self.listener.wait(how, |id| ids.push(id));
        for id in ids.drain(..) {
            self.on_signal(id);
        }
        self.signals = ids;
        result
    }

    fn on_signal(&mut self, id: usize) {
        // Ids no dora version sends are ignored: only dora writes here.
        let Some(signal) = Signal::from_id(id) else {
            return;
        };
        match signal {
            Signal::Data => {}
            Signal::Stop
                if !self.stop_delivered
                    && !self.pending.iter().any(|e| matches!(e, Event::Stop)) =>
            {
                self.pending.push_back(Event::Stop);
            }
            Signal::Stop => {}
            Signal::Connect => self.phases_done.push(StartPhase::Connect),
            Signal::ConnectRestarted => {
                self.phases_done.push(StartPhase::Connect);
                self.restarted = true;
            }
            Signal::Start => self.phases_done.push(StartPhase::Start),
            Signal::InputClosed => {
                while let Some(ended) = self.control.receive() {
                    let node = usize::try_from(ended).ok();
                    for input in self
                        .inputs
                        .iter_mut()
                        .filter(|i| i.source.is_some() && i.source == node)
                    {
                        input.closing = true;
                        input.closing_since.get_or_insert_with(Instant::now);
                    }
                }
            }
        }
    }

    /// Start-up barrier: waits for the launcher to end `phase`.
    pub(crate) fn wait_for_start_signal(
        &mut self,
        phase: StartPhase,
        wait: &mut StartWait<'_>,
    ) -> Result<(), InitError> {
        while !self.phases_done.contains(&phase) {
            if self.pending.iter().any(|e| matches!(e, Event::Stop)) {
                return Err(InitError::StoppedDuringStart);
            }
            wait.check()?;
            self.take_signals(Wait::For(wait.slice()))?;
        }
        Ok(())
    }

    /// Whether this process is a restart of the node.
    pub(crate) fn restarted(&self) -> bool {
        self.restarted
    }

    /// Start-up: reads the hello of every input's sender, which maps the
    /// sender's memory (see `DoraNode::start_barrier`).
    pub(crate) fn take_hellos(&mut self, wait: &mut StartWait<'_>) -> Result<(), InitError> {
        for input in &self.inputs {
            let Some(InputPort::Local(receiver)) = &input.port else {
                continue;
            };
            loop {
                match receiver.receive()? {
                    Some(sample) if sample.header().sequence == HELLO_SEQUENCE => break,
                    // Nothing but hellos is sent before the start.
                    Some(_) => continue,
                    None => {
                        wait.check()?;
                        std::thread::sleep(HELLO_POLL);
                    }
                }
            }
        }
        Ok(())
    }

    /// Connects every subscriber to its publisher, which exists by now.
    pub(crate) fn connect(&self) -> Result<(), TransportError> {
        for input in &self.inputs {
            if let Some(InputPort::Local(receiver)) = &input.port {
                receiver.connect()?;
            }
        }
        Ok(())
    }
}

impl Iterator for EventStream {
    type Item = Event;

    /// Blocks until the next event; `None` once the stream has ended.
    fn next(&mut self) -> Option<Event> {
        self.next_event(None)
    }
}
