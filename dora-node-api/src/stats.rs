//! The counts a node keeps for `dora run`'s summary: messages sent per
//! output, received and dropped per input, and what a runtime counts for
//! its operators.
//!
//! The counts live in a file that the node maps into its memory (named by
//! [`ENV_VAR`]), so counting is a store to memory, the launcher can read
//! them while the node runs, and they survive however the node ends: a
//! node that aborts or is killed keeps every count it made. A restarted
//! node maps the same file and goes on counting from where its earlier
//! process stopped.
//!
//! The file: a header (magic, bytes used), then entries of a `u64` value, a
//! key length and the key (`kind name`), each padded to 8 bytes. Entries
//! are only appended, by the node's one thread, and published by moving
//! the `used` mark after the entry is written.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The environment variable that names the node's counts file.
pub const ENV_VAR: &str = "DORA_NODE_STATS";

const MAGIC: &[u8; 8] = b"DORACNT1";
/// Where entries start: after the magic and the `used` mark.
const HEADER: usize = 64;
/// The size of the file. It is sparse: only the pages written take room.
/// 4 MiB holds about 100,000 counters.
const CAPACITY: usize = 4 << 20;
const ENTRY_FIXED: usize = 16;

/// Kinds of counts, the first word of a key.
pub mod kind {
    /// Messages sent on an output; also the next sequence number.
    pub const SENT: &str = "sent";
    /// Messages read on an input.
    pub const RECEIVED: &str = "received";
    /// Messages of an input that `drop_oldest` dropped before they were read.
    pub const DROPPED: &str = "dropped";
    /// A runtime's operator restarts (in the process, state kept).
    pub const OPERATOR_RESTARTS: &str = "operator-restarts";
    /// 1 when an operator failed for good.
    pub const OPERATOR_FAILED: &str = "operator-failed";
    /// Messages of an operator input (`operator/input`) that a panic ate.
    pub const OPERATOR_LOST_PANIC: &str = "operator-lost-panic";
    /// Messages of an operator input that were queued when the operator
    /// failed for good, or came after.
    pub const OPERATOR_LOST_ENDED: &str = "operator-lost-ended";
    /// Messages of an operator input that `drop_oldest` dropped in the
    /// runtime's queue.
    pub const OPERATOR_DROPPED: &str = "operator-dropped";
    /// Messages of an operator input that were queued when the operator
    /// stopped on its own or at `Stop`, or came after: not read, and not
    /// lost to a failure.
    pub const OPERATOR_UNREAD: &str = "operator-unread";
    /// Messages from other nodes that a runtime holds for an operator
    /// input, queued or being handled, right now: what a crash of the
    /// runtime's process loses.
    pub const OPERATOR_IN_RUNTIME: &str = "operator-in-runtime";
    /// Errors an operator returned, or met sending its outputs.
    pub const OPERATOR_ERRORS: &str = "operator-errors";
    /// Messages on a runtime node's input that no operator reads (a
    /// configuration that does not match the runtime): lost.
    pub const OPERATOR_UNROUTED: &str = "operator-unrouted";
    /// Errors the event stream gave the node (`Event::Error`), by input
    /// (an empty name: waiting for events failed).
    pub const RECEIVE_ERRORS: &str = "receive-errors";
    /// When the node last took an event or sent, and whether it waits for
    /// one now, under the name "" (see [`Liveness`](super::Liveness)).
    pub const LIVENESS: &str = "liveness";
    /// Times an input was closed by its `input_timeout`, by input.
    pub const INPUT_TIMEOUTS: &str = "input-timeouts";
    /// Messages whose bytes did not fit the layout of their edge's type,
    /// not delivered, by input.
    pub const TYPE_MISMATCHES: &str = "type-mismatches";
}

/// A mapping of the counts file (or of anonymous memory when there is no
/// file to count into).
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; every access to it goes through
// atomics or through `Counters::append`, which holds a lock.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl Mapping {
    fn of_file(path: &Path) -> std::io::Result<Mapping> {
        Ok(Mapping {
            ptr: crate::mapped::map_file(path, CAPACITY)?.as_ptr(),
            len: CAPACITY,
        })
    }

    fn anonymous() -> Mapping {
        let len = 64 << 10;
        // SAFETY: a private anonymous mapping.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            // Without memory for a few counters nothing else would work
            // either; count into nothing rather than fail the node.
            return Mapping {
                ptr: std::ptr::null_mut(),
                len: 0,
            };
        }
        Mapping {
            ptr: ptr.cast(),
            len,
        }
    }

    /// The `u64` at `offset` (8-aligned, inside the mapping).
    fn word(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= self.len);
        // SAFETY: mmap returns page-aligned memory, the offset is
        // 8-aligned and inside the mapping, which lives as long as `self`.
        unsafe { &*self.ptr.add(offset).cast::<AtomicU64>() }
    }
}

/// The counts of one process, shared by its node, event stream and
/// runtime.
pub struct Counters {
    mapping: Mapping,
    /// Key to the offset of its value; appending holds this lock.
    index: Mutex<HashMap<String, usize>>,
    /// Counters that did not fit in the file.
    spill: Mutex<Vec<Arc<AtomicU64>>>,
}

/// One count. Each count has one writer (the node's thread), so adding is
/// a load and a store, not a locked instruction.
#[derive(Clone)]
pub struct Counter {
    counters: Arc<Counters>,
    place: Place,
}

#[derive(Clone)]
enum Place {
    At(usize),
    Spilled(Arc<AtomicU64>),
}

impl Counter {
    fn cell(&self) -> &AtomicU64 {
        match &self.place {
            Place::At(offset) => self.counters.mapping.word(*offset),
            Place::Spilled(cell) => cell,
        }
    }

    pub fn get(&self) -> u64 {
        self.cell().load(Ordering::Relaxed)
    }

    pub fn add(&self, n: u64) {
        let cell = self.cell();
        cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Release);
    }

    pub fn set(&self, value: u64) {
        self.cell().store(value, Ordering::Release);
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counter({})", self.get())
    }
}

static THIS_PROCESS: Mutex<Option<std::sync::Weak<Counters>>> = Mutex::new(None);

impl Counters {
    /// The counts of this process: the file named by [`ENV_VAR`] (one
    /// mapping per process, however many nodes it opens), or memory of
    /// its own when there is none.
    pub fn for_this_process() -> Arc<Counters> {
        let mut this = THIS_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(counters) = this.as_ref().and_then(std::sync::Weak::upgrade) {
            return counters;
        }
        let counters = Arc::new(match std::env::var_os(ENV_VAR) {
            Some(path) => Counters::open(Path::new(&path)).unwrap_or_else(|error| {
                // The counts are a report, not the work: the node goes on,
                // and the summary shows its counts as unknown.
                eprintln!(
                    "warning: cannot keep this node's counts in {}: {error}",
                    Path::new(&path).display()
                );
                Counters::in_memory()
            }),
            None => Counters::in_memory(),
        });
        *this = Some(Arc::downgrade(&counters));
        counters
    }

    /// Maps the counts file at `path`, keeping the counts already in it.
    pub fn open(path: &Path) -> std::io::Result<Counters> {
        let mapping = Mapping::of_file(path)?;
        let counters = Counters {
            mapping,
            index: Mutex::new(HashMap::new()),
            spill: Mutex::new(Vec::new()),
        };
        // SAFETY: the mapping is at least HEADER bytes long.
        let magic = unsafe { std::slice::from_raw_parts(counters.mapping.ptr, 8) };
        if magic != MAGIC {
            // SAFETY: as above; nobody else writes a new file.
            unsafe { std::ptr::copy_nonoverlapping(MAGIC.as_ptr(), counters.mapping.ptr, 8) };
            counters.mapping.word(8).store(0, Ordering::Release);
        } else {
            let used = counters.used();
            // SAFETY: `used` bytes of entries were written by an earlier
            // process of this node.
            let entries =
                unsafe { std::slice::from_raw_parts(counters.mapping.ptr.add(HEADER), used) };
            let mut index = counters.index.lock().unwrap_or_else(|e| e.into_inner());
            for (key, offset, _) in entries_of(entries) {
                index.insert(key.to_owned(), HEADER + offset);
            }
        }
        Ok(counters)
    }

    fn in_memory() -> Counters {
        Counters {
            mapping: Mapping::anonymous(),
            index: Mutex::new(HashMap::new()),
            spill: Mutex::new(Vec::new()),
        }
    }

    fn used(&self) -> usize {
        if self.mapping.len == 0 {
            return 0;
        }
        (self.mapping.word(8).load(Ordering::Acquire) as usize)
            .min(self.mapping.len.saturating_sub(HEADER))
    }

    /// The count of `kind` for `name` (an output, an input, an operator),
    /// made at 0 when this node never counted it before.
    pub fn counter(self: &Arc<Self>, kind: &str, name: &str) -> Counter {
        let key = format!("{kind} {name}");
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&offset) = index.get(&key) {
            return Counter {
                counters: self.clone(),
                place: Place::At(offset),
            };
        }
        let used = self.used();
        let size = ENTRY_FIXED + key.len().next_multiple_of(8);
        if self.mapping.len < HEADER || HEADER + used + size > self.mapping.len {
            let cell = Arc::new(AtomicU64::new(0));
            self.spill
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(cell.clone());
            return Counter {
                counters: self.clone(),
                place: Place::Spilled(cell),
            };
        }
        let at = HEADER + used;
        self.mapping.word(at).store(0, Ordering::Relaxed);
        self.mapping
            .word(at + 8)
            .store(key.len() as u64, Ordering::Relaxed);
        // SAFETY: the entry lies inside the mapping, past `used`, where no
        // reader looks until `used` moves; the lock keeps writers apart.
        unsafe {
            std::ptr::copy_nonoverlapping(
                key.as_ptr(),
                self.mapping.ptr.add(at + ENTRY_FIXED),
                key.len(),
            )
        };
        self.mapping
            .word(8)
            .store((used + size) as u64, Ordering::Release);
        index.insert(key, at);
        Counter {
            counters: self.clone(),
            place: Place::At(at),
        }
    }
}

/// Walks entries: (key, offset of the value within `entries`, value).
fn entries_of(entries: &[u8]) -> impl Iterator<Item = (&str, usize, u64)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let fixed = entries.get(at..at + ENTRY_FIXED)?;
        let value = u64::from_ne_bytes(fixed[..8].try_into().ok()?);
        let key_len = u64::from_ne_bytes(fixed[8..].try_into().ok()?) as usize;
        let key = entries.get(at + ENTRY_FIXED..at + ENTRY_FIXED + key_len)?;
        let key = std::str::from_utf8(key).ok()?;
        let offset = at;
        at += ENTRY_FIXED + key_len.next_multiple_of(8);
        Some((key, offset, value))
    })
}

/// The counts of one node, read from its file: by kind, then by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    counts: BTreeMap<String, BTreeMap<String, u64>>,
}

impl NodeStats {
    /// The count of `kind` for `name`; 0 when never counted.
    pub fn get(&self, kind: &str, name: &str) -> u64 {
        self.counts
            .get(kind)
            .and_then(|names| names.get(name))
            .copied()
            .unwrap_or(0)
    }

    /// Every name counted under `kind`, with its count.
    pub fn of_kind(&self, kind: &str) -> impl Iterator<Item = (&str, u64)> {
        self.counts
            .get(kind)
            .into_iter()
            .flatten()
            .map(|(name, n)| (name.as_str(), *n))
    }

    /// The sum of every count of `kind`.
    pub fn total(&self, kind: &str) -> u64 {
        self.of_kind(kind).map(|(_, n)| n).sum()
    }

    /// Messages sent in all, over every output.
    pub fn sent(&self) -> u64 {
        self.total(kind::SENT)
    }

    /// Messages received in all, over every input.
    pub fn received(&self) -> u64 {
        self.total(kind::RECEIVED)
    }

    /// Messages dropped by queue policies, in the node's inputs and in its
    /// operators' queues.
    pub fn dropped(&self) -> u64 {
        self.total(kind::DROPPED) + self.total(kind::OPERATOR_DROPPED)
    }
}

/// Reads a counts file, also while its node runs; `None` when the node
/// left none (it never joined its dataflow).
pub fn read(path: &Path) -> Option<NodeStats> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut header = [0u8; HEADER];
    file.read_exact(&mut header).ok()?;
    if &header[..8] != MAGIC {
        return None;
    }
    let used = u64::from_ne_bytes(header[8..16].try_into().ok()?) as usize;
    let mut entries = vec![0u8; used.min(CAPACITY - HEADER)];
    file.read_exact(&mut entries).ok()?;
    let mut stats = NodeStats::default();
    for (key, _, value) in entries_of(&entries) {
        let (kind, name) = key.split_once(' ')?;
        stats
            .counts
            .entry(kind.to_owned())
            .or_default()
            .insert(name.to_owned(), value);
    }
    Some(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("dora-stats-{name}-{}", std::process::id()))
    }

    #[test]
    fn counts_are_read_while_counting_and_kept_by_the_next_process() {
        let path = temp("live");
        let _ = std::fs::remove_file(&path);
        {
            let counters = Arc::new(Counters::open(&path).unwrap());
            let sent = counters.counter(kind::SENT, "out");
            let received = counters.counter(kind::RECEIVED, "in");
            sent.add(10);
            received.add(7);
            // Read while the writer still has it mapped.
            let stats = read(&path).unwrap();
            assert_eq!((stats.sent(), stats.received()), (10, 7));
            assert_eq!(stats.get(kind::DROPPED, "in"), 0);
        }
        // A restarted node goes on from where the last one stopped.
        let counters = Arc::new(Counters::open(&path).unwrap());
        let sent = counters.counter(kind::SENT, "out");
        assert_eq!(sent.get(), 10);
        sent.add(1);
        counters.counter(kind::DROPPED, "in").add(3);
        let stats = read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(stats.get(kind::SENT, "out"), 11);
        assert_eq!(stats.dropped(), 3);
        assert_eq!(
            stats.of_kind(kind::RECEIVED).collect::<Vec<_>>(),
            [("in", 7)]
        );
    }

    #[test]
    fn a_file_that_is_not_a_counts_file_reads_as_unknown() {
        let path = temp("bad");
        std::fs::write(&path, vec![7u8; 128]).unwrap();
        assert_eq!(read(&path), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn counters_that_do_not_fit_still_count() {
        let counters = Arc::new(Counters::in_memory());
        let many: Vec<Counter> = (0..5000)
            .map(|i| counters.counter(kind::SENT, &format!("output-{i}")))
            .collect();
        for counter in &many {
            counter.add(2);
        }
        assert!(many.iter().all(|c| c.get() == 2));
    }
}

/// What the launcher reads to tell whether a node still takes its events
/// (`health_check_timeout`): the time, on the machine's monotonic clock,
/// when the node last took an event or sent, and whether it is waiting for
/// one now (a node that waits is not stuck). One store per event, made
/// only by nodes that are watched.
#[derive(Clone)]
pub struct Liveness(Counter);

impl Liveness {
    /// The liveness of this process's node, when the launcher watches it.
    pub fn watched(counters: &Arc<Counters>, watched: bool) -> Option<Liveness> {
        watched.then(|| Liveness(counters.counter(kind::LIVENESS, "")))
    }

    /// The node took an event or sent one, now.
    pub fn active(&self) {
        self.0.set(monotonic_ms() << 1);
    }

    /// The node is about to wait for an event.
    pub fn waiting(&self) {
        self.0.set(monotonic_ms() << 1 | 1);
    }

    /// A recorded value as (milliseconds on the monotonic clock, waiting);
    /// `None` when nothing was recorded yet.
    pub fn decode(value: u64) -> Option<(u64, bool)> {
        (value != 0).then_some((value >> 1, value & 1 == 1))
    }
}

/// Milliseconds on the machine's monotonic clock, which every process of
/// the machine reads alike.
pub fn monotonic_ms() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the time into `now`, which we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000
}
