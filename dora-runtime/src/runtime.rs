//! The scheduler: every operator's input queues, a ready heap ordered by
//! priority, and the calls into operators.
//!
//! One thread runs everything, so operators are cooperative: each call
//! runs to its end. When several operators have events, the one with the
//! highest `priority` runs first; among equals, the oldest event first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use dora_core::config::{OperatorConfig, OperatorInputFrom, OperatorSourceConfig};
use dora_core::descriptor::QueuePolicy;
use dora_core::id::{DataId, OperatorId};
use dora_operator_api::abi::{
    DoraEvent, DoraParameter, DoraSlice, DORA_CONTINUE, DORA_EVENT_INPUT, DORA_EVENT_INPUT_CLOSED,
    DORA_EVENT_STOP, DORA_PANIC, DORA_STOP, DORA_STOP_ALL,
};

use std::sync::Arc;

use dora_node_api::stats::{kind, Counter, Counters};

use crate::call::{Call, Sent, Store};
use crate::library::{Library, LoadError};
use crate::parameters::MessageParameters;
use crate::payload::Payload;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("operator `{operator}`: {source}")]
    Load {
        operator: OperatorId,
        source: LoadError,
    },
    #[error("operator `{operator}` is a Python operator, which needs the dora Python package; this runtime hosts shared-library and C operators")]
    Python { operator: OperatorId },
    #[error("operator `{operator}` failed to start: {message}")]
    Init {
        operator: OperatorId,
        message: String,
    },
}

/// Serves a Python operator: the runtime of the Python package passes one;
/// `dora-runtime` refuses them.
pub type PythonLoader<'a> =
    &'a mut dyn FnMut(&OperatorConfig, &Path) -> Result<Library, RuntimeError>;

fn no_python(operator: &OperatorConfig, _path: &Path) -> Result<Library, RuntimeError> {
    Err(RuntimeError::Python {
        operator: operator.id.clone(),
    })
}

/// Where the runtime sends what operators send to other nodes.
pub trait Outlet {
    /// Sends `data` with `parameters` on the node's output `output`
    /// (`operator/output`).
    fn send(
        &mut self,
        output: &DataId,
        data: &[u8],
        parameters: &dora_node_api::Parameters,
    ) -> Result<(), String>;
}

/// An outlet that sends nothing: for running operators without a dataflow
/// (benchmarks, tests).
pub struct Nowhere;

impl Outlet for Nowhere {
    fn send(
        &mut self,
        _output: &DataId,
        _data: &[u8],
        _parameters: &dora_node_api::Parameters,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// The parameters of a message that has none.
static NO_PARAMETERS: dora_node_api::Parameters = dora_node_api::Parameters::new();

/// How many messages of one input, read in place in shared memory, the
/// runtime holds at once; more are copied (a node may hold only a few).
const MAX_HELD_IN_PLACE: usize = 2;

enum Message {
    Data {
        payload: Payload,
        /// `None` when the message has no parameters.
        parameters: Option<Rc<MessageParameters>>,
        timestamp_ns: u64,
        enqueued: Instant,
    },
    Closed,
}

struct Queued {
    seq: u64,
    message: Message,
}

struct InputQueue {
    id: DataId,
    queue: VecDeque<Queued>,
    queue_size: usize,
    backpressure: bool,
    deadline: Option<Duration>,
    /// Messages in the queue read in place in shared memory.
    held: usize,
    received: u64,
    dropped: u64,
    late: u64,
    closed: bool,
    /// For the run summary (see `dora_node_api::stats`).
    counts: InputCounts,
}

/// What the run summary learns about one operator input.
struct InputCounts {
    dropped: Counter,
    /// Messages a panic ate.
    lost_panic: Counter,
    /// Messages left, or arriving, after the operator failed for good.
    lost_ended: Counter,
    /// Messages left, or arriving, after the operator stopped on its own
    /// or at `Stop`.
    unread: Counter,
    /// For an input fed by another node: the messages held for it now.
    in_runtime: Option<Counter>,
}

impl InputQueue {
    /// Records how many messages from other nodes the runtime holds for
    /// this input: those queued, and the one being handled.
    fn note_held(&self, handling: bool) {
        if let Some(counter) = &self.counts.in_runtime {
            // A closing input's last entry is no message.
            let closing = self
                .queue
                .back()
                .is_some_and(|q| matches!(q.message, Message::Closed));
            let queued = self.queue.len() - usize::from(closing);
            counter.set(queued as u64 + u64::from(handling));
        }
    }
}

impl InputCounts {
    /// A message the operator will never read: lost when the operator
    /// failed for good, else merely unread (it stopped, or Stop came).
    fn not_read(&self, operator_failed: bool) {
        if operator_failed {
            self.lost_ended.add(1);
        } else {
            self.unread.add(1);
        }
    }

    fn new(
        counters: &Arc<Counters>,
        operator: &OperatorId,
        input: &DataId,
        from_node: bool,
    ) -> InputCounts {
        let qualified = DataId::qualified(Some(operator), input);
        let name = qualified.as_str();
        let in_runtime = from_node.then(|| {
            let counter = counters.counter(kind::OPERATOR_IN_RUNTIME, name);
            // An earlier process of this node counted its own.
            counter.set(0);
            counter
        });
        InputCounts {
            in_runtime,
            dropped: counters.counter(kind::OPERATOR_DROPPED, name),
            lost_panic: counters.counter(kind::OPERATOR_LOST_PANIC, name),
            lost_ended: counters.counter(kind::OPERATOR_LOST_ENDED, name),
            unread: counters.counter(kind::OPERATOR_UNREAD, name),
        }
    }
}

/// Where one output goes.
#[derive(Default)]
struct Route {
    /// Inputs of operators of this runtime: (operator, input) indices.
    targets: Vec<(usize, usize)>,
    /// The node output, when other nodes read it.
    node_output: Option<DataId>,
}

struct Slot {
    id: OperatorId,
    priority: i32,
    library: Rc<Library>,
    /// `None` once the operator has stopped.
    instance: Option<*mut c_void>,
    inputs: Vec<InputQueue>,
    outputs: Vec<DataId>,
    routes: Vec<Route>,
    state: Store,
    restarts: u32,
    /// Restarts after a panic it gets (see `OperatorConfig::max_restarts`).
    max_restarts: u32,
    /// It used its restarts, or failed to restart: it has failed for good.
    failed: bool,
    events: u64,
    errors: u64,
    restarts_count: Counter,
    failed_count: Counter,
    errors_count: Counter,
    /// It has an entry in the ready heap.
    scheduled: bool,
    stop_pending: bool,
}

impl Slot {
    /// The input whose next event is the oldest.
    fn next_input(&self) -> Option<usize> {
        self.inputs
            .iter()
            .enumerate()
            .filter_map(|(i, input)| input.queue.front().map(|q| (q.seq, i)))
            .min()
            .map(|(_, i)| i)
    }
}

/// Operators hosted in one process.
pub struct Runtime {
    slots: Vec<Slot>,
    ready: BinaryHeap<(i32, Reverse<u64>, usize)>,
    seq: u64,
    shared: Store,
    /// Node input id (`operator/input`) to (operator, input) indices.
    node_inputs: HashMap<DataId, (usize, usize)>,
    /// Messages in all queues read in place in shared memory.
    held: usize,
    failed: bool,
    /// Time from enqueue to the start of the call, when recorded.
    latencies: Option<Vec<Duration>>,
    /// What the operator being called sent; kept for its capacity.
    outbox: Vec<Sent>,
    /// The operator and input of the message being handled.
    handling: Option<(usize, usize)>,
    /// Where messages that reach no operator are counted.
    counters: Arc<Counters>,
}

impl Runtime {
    /// Loads and starts every operator. Paths are relative to `dir`;
    /// `published` says which node outputs other nodes read.
    pub fn new(
        operators: &[OperatorConfig],
        dir: &Path,
        max_restarts: u32,
        published: impl Fn(&DataId) -> bool,
    ) -> Result<Runtime, RuntimeError> {
        Runtime::with_loader(operators, dir, max_restarts, published, &mut no_python)
    }

    /// Like [`new`](Self::new), with `python` serving Python operators
    /// (given the operator and its file's path).
    pub fn with_loader(
        operators: &[OperatorConfig],
        dir: &Path,
        max_restarts: u32,
        published: impl Fn(&DataId) -> bool,
        python: PythonLoader<'_>,
    ) -> Result<Runtime, RuntimeError> {
        let counters = Counters::for_this_process();
        let mut libraries: HashMap<PathBuf, Rc<Library>> = HashMap::new();
        let mut slots = Vec::with_capacity(operators.len());
        for operator in operators {
            let library = match &operator.source {
                OperatorSourceConfig::SharedLibrary(path) | OperatorSourceConfig::C(path) => {
                    let path = dir.join(path);
                    match libraries.get(&path) {
                        Some(library) => library.clone(),
                        None => {
                            let library = Rc::new(Library::load(&path).map_err(|source| {
                                RuntimeError::Load {
                                    operator: operator.id.clone(),
                                    source,
                                }
                            })?);
                            libraries.insert(path, library.clone());
                            library
                        }
                    }
                }
                OperatorSourceConfig::Python(path) => Rc::new(python(operator, &dir.join(path))?),
            };
            let inputs = operator
                .inputs
                .iter()
                .map(|(id, input)| InputQueue {
                    id: id.clone(),
                    queue: VecDeque::new(),
                    queue_size: input.queue_size.max(1),
                    backpressure: input.queue_policy == QueuePolicy::Backpressure,
                    deadline: input.deadline.map(|d| d.as_std()),
                    held: 0,
                    received: 0,
                    dropped: 0,
                    late: 0,
                    closed: false,
                    counts: InputCounts::new(
                        &counters,
                        &operator.id,
                        id,
                        matches!(input.from, OperatorInputFrom::NodeInput(_)),
                    ),
                })
                .collect();
            let routes = operator
                .outputs
                .iter()
                .map(|output| {
                    let node_output = DataId::qualified(Some(&operator.id), output);
                    Route {
                        targets: Vec::new(),
                        node_output: published(&node_output).then_some(node_output),
                    }
                })
                .collect();
            slots.push(Slot {
                id: operator.id.clone(),
                priority: operator.priority,
                library,
                instance: None,
                inputs,
                outputs: operator.outputs.clone(),
                routes,
                state: Store::new(),
                restarts: 0,
                max_restarts: operator.max_restarts.unwrap_or(max_restarts),
                failed: false,
                events: 0,
                errors: 0,
                restarts_count: counters.counter(kind::OPERATOR_RESTARTS, operator.id.as_str()),
                failed_count: counters.counter(kind::OPERATOR_FAILED, operator.id.as_str()),
                errors_count: counters.counter(kind::OPERATOR_ERRORS, operator.id.as_str()),
                scheduled: false,
                stop_pending: false,
            });
        }
        let mut node_inputs = HashMap::new();
        for (index, operator) in operators.iter().enumerate() {
            for (input_index, input) in operator.inputs.values().enumerate() {
                match &input.from {
                    OperatorInputFrom::NodeInput(id) => {
                        node_inputs.insert(id.clone(), (index, input_index));
                    }
                    OperatorInputFrom::Operator { operator, output } => {
                        let source = slots.iter().position(|s| s.id == *operator);
                        let route = source.and_then(|s| {
                            let o = slots[s].outputs.iter().position(|o| o == output)?;
                            Some(&mut slots[s].routes[o])
                        });
                        if let Some(route) = route {
                            route.targets.push((index, input_index));
                        }
                    }
                }
            }
        }
        let mut runtime = Runtime {
            slots,
            ready: BinaryHeap::new(),
            seq: 0,
            shared: Store::new(),
            node_inputs,
            counters,
            held: 0,
            failed: false,
            latencies: None,
            outbox: Vec::new(),
            handling: None,
        };
        for index in 0..runtime.slots.len() {
            if let Err(message) = runtime.init(index) {
                return Err(RuntimeError::Init {
                    operator: runtime.slots[index].id.clone(),
                    message,
                });
            }
        }
        Ok(runtime)
    }

    /// Records, from now on, how long each event waits between its enqueue
    /// and the start of its call (for benchmarks).
    pub fn record_latencies(&mut self) {
        self.latencies = Some(Vec::new());
    }

    /// The recorded waits; see [`record_latencies`](Self::record_latencies).
    pub fn take_latencies(&mut self) -> Vec<Duration> {
        self.latencies
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn init(&mut self, index: usize) -> Result<(), String> {
        let slot = &mut self.slots[index];
        // Sending needs a running dataflow, so no output exists here.
        let mut call = Call::new(None, &mut slot.state, &mut self.shared);
        let context = call.context(slot.id.as_str());
        let mut instance: *mut c_void = std::ptr::null_mut();
        // SAFETY: the ABI's init with a context valid for the call.
        let status = unsafe { (slot.library.init)(&context, &mut instance) };
        if status != DORA_CONTINUE || instance.is_null() {
            return Err(call.error.take().unwrap_or_else(|| {
                format!("`dora_init_operator` returned {status} without a message")
            }));
        }
        slot.instance = Some(instance);
        Ok(())
    }

    /// Whether an event is waiting.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Whether another message from another node may be taken now: the
    /// runtime holds only a few in place in shared memory, so a slow
    /// operator leaves the rest in their queues, where the queue policy
    /// applies.
    pub fn can_take_from_nodes(&self) -> bool {
        self.held <= self.node_inputs.len().max(1)
    }

    /// Whether every operator has stopped.
    pub fn is_finished(&self) -> bool {
        self.slots.iter().all(|s| s.instance.is_none())
    }

    /// Whether an operator failed (an error, or a panic it was not
    /// restarted from).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// A message from another node, on node input `id`.
    pub fn push_from_node(
        &mut self,
        id: &DataId,
        data: dora_node_api::Data,
        metadata: dora_node_api::Metadata,
    ) {
        let parameters = MessageParameters::new(metadata.parameters).map(Rc::new);
        self.push(id, Payload::Node(data), parameters, metadata.timestamp_ns);
    }

    /// A message on node input `id` whose bytes are already in this
    /// process (for tests and benchmarks).
    pub fn push_bytes(&mut self, id: &DataId, bytes: Vec<u8>, timestamp_ns: u64) {
        self.push(id, Payload::Shared(Rc::new(bytes)), None, timestamp_ns);
    }

    fn push(
        &mut self,
        id: &DataId,
        payload: Payload,
        parameters: Option<Rc<MessageParameters>>,
        timestamp_ns: u64,
    ) {
        let Some(&(index, input)) = self.node_inputs.get(id) else {
            eprintln!("error: a message came on `{id}`, which no operator reads; it is lost");
            self.counters
                .counter(kind::OPERATOR_UNROUTED, id.as_str())
                .add(1);
            self.failed = true;
            return;
        };
        let queue = &mut self.slots[index].inputs[input];
        let payload = match payload {
            Payload::Node(data) if queue.held >= MAX_HELD_IN_PLACE => {
                Payload::Shared(Rc::new(data.to_vec()))
            }
            Payload::Node(data) => {
                queue.held += 1;
                self.held += 1;
                Payload::Node(data)
            }
            shared => shared,
        };
        self.enqueue(
            index,
            input,
            Message::Data {
                payload,
                parameters,
                timestamp_ns,
                enqueued: Instant::now(),
            },
        );
    }

    /// Node input `id` will get no more messages.
    pub fn close_from_node(&mut self, id: &DataId) {
        if let Some(&(index, input)) = self.node_inputs.get(id) {
            self.enqueue(index, input, Message::Closed);
        }
    }

    /// The dataflow is stopping: every operator gets `Stop`, in priority
    /// order, and then stops.
    pub fn stop(&mut self) {
        for index in 0..self.slots.len() {
            if self.slots[index].instance.is_some() {
                self.slots[index].stop_pending = true;
                self.schedule(index);
            }
        }
    }

    fn enqueue(&mut self, index: usize, input: usize, message: Message) {
        self.seq += 1;
        let seq = self.seq;
        let slot = &mut self.slots[index];
        let queue = &mut slot.inputs[input];
        if slot.instance.is_none() || queue.closed {
            // Nobody will read it.
            if matches!(message, Message::Data { .. }) {
                queue.counts.not_read(slot.failed);
            }
            self.release(&message, index, input);
            return;
        }
        if !queue.backpressure && queue.queue.len() >= queue.queue_size {
            if let Some(oldest) = queue.queue.pop_front() {
                queue.dropped += 1;
                queue.counts.dropped.add(1);
                self.release(&oldest.message, index, input);
            }
        }
        let queue = &mut self.slots[index].inputs[input];
        queue.queue.push_back(Queued { seq, message });
        queue.note_held(false);
        self.schedule(index);
    }

    /// Accounts for a message leaving its queue.
    fn release(&mut self, message: &Message, index: usize, input: usize) {
        if let Message::Data {
            payload: Payload::Node(_),
            ..
        } = message
        {
            self.slots[index].inputs[input].held -= 1;
            self.held -= 1;
        }
    }

    fn schedule(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.scheduled || slot.instance.is_none() {
            return;
        }
        let seq = if slot.stop_pending {
            Some(0)
        } else {
            slot.next_input()
                .and_then(|i| slot.inputs[i].queue.front())
                .map(|q| q.seq)
        };
        if let Some(seq) = seq {
            slot.scheduled = true;
            self.ready.push((slot.priority, Reverse(seq), index));
        }
    }

    /// Runs the most urgent event; `false` when none was waiting.
    pub fn run_one(&mut self, outlet: &mut dyn Outlet) -> bool {
        let Some((_, _, index)) = self.ready.pop() else {
            return false;
        };
        self.slots[index].scheduled = false;
        if self.slots[index].stop_pending {
            self.slots[index].stop_pending = false;
            let event = event(DORA_EVENT_STOP, "", &[], None, 0, false);
            self.call(index, &event, None, outlet);
            self.end_operator(index);
            return true;
        }
        let Some(input) = self.slots[index].next_input() else {
            return true;
        };
        let Some(queued) = self.slots[index].inputs[input].queue.pop_front() else {
            return true;
        };
        self.release(&queued.message, index, input);
        self.slots[index].inputs[input].note_held(matches!(queued.message, Message::Data { .. }));
        let id = self.slots[index].inputs[input].id.clone();
        self.handling = Some((index, input));
        match queued.message {
            Message::Data {
                payload,
                parameters,
                timestamp_ns,
                enqueued,
            } => {
                if let Some(latencies) = &mut self.latencies {
                    latencies.push(enqueued.elapsed());
                }
                let queue = &mut self.slots[index].inputs[input];
                queue.received += 1;
                let waited = dora_node_api::now_ns().saturating_sub(timestamp_ns);
                let late = queue
                    .deadline
                    .is_some_and(|d| Duration::from_nanos(waited) > d);
                queue.late += u64::from(late);
                let event = event(
                    DORA_EVENT_INPUT,
                    id.as_str(),
                    payload.bytes(),
                    parameters.as_deref(),
                    timestamp_ns,
                    late,
                );
                // The event points into the payload's bytes, which stay
                // where they are while the call, or an operator that
                // holds it (`hold_input`), owns the payload.
                self.call(index, &event, Some(payload), outlet);
            }
            Message::Closed => {
                self.slots[index].inputs[input].closed = true;
                let event = event(DORA_EVENT_INPUT_CLOSED, id.as_str(), &[], None, 0, false);
                self.call(index, &event, None, outlet);
            }
        }
        self.handling = None;
        self.slots[index].inputs[input].note_held(false);
        self.schedule(index);
        true
    }

    /// Calls the operator, routes what it sent, and acts on its status.
    /// `input` is the message `event` points into, which the call keeps
    /// alive.
    fn call(
        &mut self,
        index: usize,
        event: &DoraEvent,
        input: Option<Payload>,
        outlet: &mut dyn Outlet,
    ) {
        let slot = &mut self.slots[index];
        let Some(instance) = slot.instance else {
            return;
        };
        slot.events += 1;
        let mut call = Call::new(Some(&slot.outputs), &mut slot.state, &mut self.shared);
        call.input = input;
        // Reused from call to call: sending allocates no list.
        call.outbox = std::mem::take(&mut self.outbox);
        let context = call.context(slot.id.as_str());
        // SAFETY: the ABI's on_event with the operator's own instance and
        // an event and context valid for the call.
        let status = unsafe { (slot.library.on_event)(instance, event, &context) };
        let mut outbox = std::mem::take(&mut call.outbox);
        let error = call.error.take();
        drop(call);
        for sent in outbox.drain(..) {
            self.route(index, sent, outlet);
        }
        self.outbox = outbox;
        match status {
            DORA_CONTINUE => {}
            DORA_STOP => self.end_operator(index),
            DORA_STOP_ALL => {
                for index in 0..self.slots.len() {
                    self.end_operator(index);
                }
            }
            DORA_PANIC => self.panicked(index, error),
            _ => {
                let slot = &mut self.slots[index];
                slot.errors += 1;
                slot.errors_count.add(1);
                self.failed = true;
                eprintln!(
                    "error: operator `{}`: {}",
                    slot.id,
                    error.unwrap_or_else(|| format!("`dora_on_event` returned {status}"))
                );
            }
        }
    }

    fn route(&mut self, index: usize, sent: Sent, outlet: &mut dyn Outlet) {
        let Sent {
            output,
            payload,
            parameters,
            timestamp_ns,
        } = sent;
        let route = &self.slots[index].routes[output];
        if let Some(node_output) = &route.node_output {
            let values = parameters.as_ref().map_or(&NO_PARAMETERS, |p| p.values());
            if let Err(error) = outlet.send(node_output, payload.bytes(), values) {
                let slot = &mut self.slots[index];
                eprintln!("error: operator `{}`: {error}", slot.id);
                slot.errors += 1;
                slot.errors_count.add(1);
                self.failed = true;
            }
        }
        let Payload::Shared(bytes) = payload else {
            return;
        };
        // By index: the message path allocates nothing of its own.
        for i in 0..self.slots[index].routes[output].targets.len() {
            let (target, input) = self.slots[index].routes[output].targets[i];
            let message = Message::Data {
                payload: Payload::Shared(bytes.clone()),
                parameters: parameters.clone(),
                timestamp_ns,
                enqueued: Instant::now(),
            };
            self.enqueue(target, input, message);
        }
    }

    /// An operator panicked: restart it with its state, or end it. The
    /// message it was handling is lost, and counted.
    fn panicked(&mut self, index: usize, message: Option<String>) {
        let slot = &mut self.slots[index];
        let message = message.unwrap_or_else(|| "no message".to_owned());
        let lost = match self.handling {
            Some((operator, input)) if operator == index => {
                slot.inputs[input].counts.lost_panic.add(1);
                format!(
                    "; the message it was handling on `{}` is lost",
                    slot.inputs[input].id
                )
            }
            _ => String::new(),
        };
        if slot.restarts >= slot.max_restarts {
            eprintln!(
                "error: operator `{}` panicked: {message}{lost}; it is not restarted ({} of {} restarts used) and has failed for good",
                slot.id, slot.restarts, slot.max_restarts
            );
            self.fail_operator(index);
            return;
        }
        slot.restarts += 1;
        slot.restarts_count.add(1);
        eprintln!(
            "operator `{}` panicked: {message}{lost}; restarting it with its state (restart {} of {})",
            slot.id, slot.restarts, slot.max_restarts
        );
        if let Some(instance) = slot.instance.take() {
            // SAFETY: the instance came from this library's init.
            unsafe { (slot.library.drop)(instance) };
        }
        if let Err(error) = self.init(index) {
            eprintln!(
                "error: operator `{}` failed to restart: {error}",
                self.slots[index].id
            );
            self.fail_operator(index);
        }
    }

    /// Ends an operator that failed for good: what is queued for it, or
    /// comes later, is lost.
    fn fail_operator(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.failed = true;
        slot.failed_count.set(1);
        self.failed = true;
        self.end_operator(index);
    }

    /// Whether an operator failed for good: it used its restarts, or could
    /// not be restarted.
    pub fn operator_failed(&self) -> bool {
        self.slots.iter().any(|s| s.failed)
    }

    /// Drops an operator for good; the operators it fed see their inputs
    /// close.
    fn end_operator(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let Some(instance) = slot.instance.take() else {
            return;
        };
        // SAFETY: the instance came from this library's init, dropped once.
        unsafe { (slot.library.drop)(instance) };
        let mut left = Vec::new();
        for (i, input) in slot.inputs.iter_mut().enumerate() {
            for queued in input.queue.drain(..) {
                if matches!(queued.message, Message::Data { .. }) {
                    input.counts.not_read(slot.failed);
                }
                left.push((i, queued.message));
            }
            input.note_held(false);
        }
        for (input, message) in left {
            self.release(&message, index, input);
        }
        let targets: Vec<(usize, usize)> = self.slots[index]
            .routes
            .iter()
            .flat_map(|r| r.targets.iter().copied())
            .collect();
        for (target, input) in targets {
            self.enqueue(target, input, Message::Closed);
        }
    }

    /// Drops every operator that still runs and returns one line per
    /// operator that has something to report, then a total.
    pub fn finish(&mut self) -> Vec<String> {
        for index in 0..self.slots.len() {
            self.end_operator(index);
        }
        let mut lines = Vec::new();
        let mut events = 0;
        for slot in &self.slots {
            events += slot.events;
            let mut notes = Vec::new();
            for input in &slot.inputs {
                if input.late > 0 {
                    notes.push(format!(
                        "{} of {} events on `{}` late",
                        input.late, input.received, input.id
                    ));
                }
                if input.dropped > 0 {
                    notes.push(format!("{} dropped on `{}`", input.dropped, input.id));
                }
            }
            if slot.restarts > 0 {
                notes.push(count(slot.restarts.into(), "restart"));
            }
            if slot.errors > 0 {
                notes.push(count(slot.errors, "error"));
            }
            if !notes.is_empty() {
                lines.push(format!("operator `{}`: {}", slot.id, notes.join(", ")));
            }
        }
        lines.push(format!(
            "{} handled {}",
            count(self.slots.len() as u64, "operator"),
            count(events, "event")
        ));
        lines
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for index in 0..self.slots.len() {
            if let Some(instance) = self.slots[index].instance.take() {
                // SAFETY: the instance came from this library's init.
                unsafe { (self.slots[index].library.drop)(instance) };
            }
        }
    }
}

/// `n thing` or `n things`.
fn count(n: u64, thing: &str) -> String {
    let plural = if n == 1 { "" } else { "s" };
    format!("{n} {thing}{plural}")
}

fn event(
    kind: u32,
    input: &str,
    data: &[u8],
    parameters: Option<&MessageParameters>,
    timestamp_ns: u64,
    late: bool,
) -> DoraEvent {
    let parameters = parameters.map_or(&[][..], |p| p.raw());
    DoraEvent {
        kind,
        late: u32::from(late),
        input: DoraSlice::new(input.as_bytes()),
        data: DoraSlice::new(data),
        timestamp_ns,
        parameters: if parameters.is_empty() {
            std::ptr::null::<DoraParameter>()
        } else {
            parameters.as_ptr()
        },
        parameters_len: parameters.len(),
    }
}
