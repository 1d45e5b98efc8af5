//! Passing on what nodes print: one thread for every node of the process,
//! waiting on all their pipes at once (poll), rather than two threads per
//! node. Every node process is forked from `dora run`; each thread added
//! to it (a stack, a guard page) made every later fork slower, so that
//! starting a thousand nodes took minutes.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::logs::{Entry, NodeLog};
use super::out::Out;
use super::process::Stream;

/// How many of a node's streams are still open; zero once everything it
/// printed has been passed on.
struct Open {
    streams: Mutex<usize>,
    closed: Condvar,
}

/// The passing on of one node's output.
pub struct Printing(Arc<Open>);

impl Printing {
    /// Waits until everything the process printed has been passed on: both
    /// streams closed (a child it left behind may hold them open).
    pub fn wait(&self) {
        let mut open = self
            .0
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *open > 0 {
            open = self
                .0
                .closed
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Like [`wait`](Self::wait), for at most `patience`.
    pub fn wait_for(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut open = self
            .0
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            open = self
                .0
                .closed
                .wait_timeout(open, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// One stream of one node.
struct Source {
    fd: OwnedFd,
    /// What was read and not yet passed on: the lines after `held`, and
    /// what follows the last full line.
    pending: Vec<u8>,
    /// A line the relay had no room for: the stream is not read until the
    /// relay takes it, so that the node waits on its pipe, and the other
    /// nodes' output (a reader's, which the relay may be waiting for) goes
    /// on being passed.
    held: Option<Entry>,
    /// The stream has ended; it closes once everything is passed on.
    ended: bool,
    node: Arc<str>,
    prefix: Arc<str>,
    log: Arc<Mutex<NodeLog>>,
    out: Out,
    to: Stream,
    colours: bool,
    open: Arc<Open>,
}

impl Source {
    /// One line: filtered by the node's `min_log_level`, shown, written to
    /// the node's log, and handed to the relay when the dataflow wants it.
    /// Returns the entry when the relay had no room for it.
    fn emit(&self, line: &[u8]) -> Option<Entry> {
        let entry = Entry::read(line, matches!(self.to, Stream::Stderr));
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if !entry.passes(log.min_level) {
            // Below the node's `min_log_level`: only `send_stdout_as` takes
            // it, when it is a printed line.
            let relay = log.relay.as_ref()?;
            let printed = matches!(entry, Entry::Printed { .. });
            return (printed && relay.every_printed_line)
                .then(|| relay.try_send(entry).err())
                .flatten();
        }
        let shown = entry.render(self.colours);
        self.out
            .line(&self.node, &self.prefix, self.to, self.colours, &shown);
        let written = match self.colours {
            true => log.file.append(&entry.render(false)),
            false => log.file.append(&shown),
        };
        if let Err(error) = written {
            log.file_failed(&self.node, &error);
        }
        log.relay.as_ref()?.try_send(entry).err()
    }

    /// Passes on the full lines read, until the relay has no room for one.
    fn pass_lines(&mut self) {
        if let Some(entry) = self.held.take() {
            let relay = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(relay) = &relay.relay {
                self.held = relay.try_send(entry).err();
            }
            if self.held.is_some() {
                return;
            }
        }
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let held = self.emit(&self.pending[start..start + end]);
            start += end + 1;
            if held.is_some() {
                self.held = held;
                break;
            }
        }
        self.pending.drain(..start);
    }

    /// Reads what is there and passes it on.
    fn read(&mut self, buffer: &mut [u8]) {
        // SAFETY: reading into a buffer we own, from a descriptor we own.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        if n < 0 {
            let error = std::io::Error::last_os_error();
            self.ended = !matches!(
                error.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            );
        } else if n == 0 {
            self.ended = true;
        } else {
            self.pending.extend_from_slice(&buffer[..n as usize]);
        }
        // The last line, even without its newline.
        if self.ended && self.pending.last().is_some_and(|b| *b != b'\n') {
            self.pending.push(b'\n');
        }
        self.pass_lines();
    }

    /// Whether the stream has ended and everything it carried is passed on.
    fn done(&self) -> bool {
        self.ended && self.held.is_none() && self.pending.is_empty()
    }

    /// One stream fewer open.
    fn close(self) {
        let mut open = self
            .open
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *open -= 1;
        self.open.closed.notify_all();
    }
}

/// The thread that passes output on, and how to hand it a new stream.
struct Passer {
    new: Mutex<Vec<Source>>,
    /// Writing a byte here wakes the thread to take its new streams.
    wake: OwnedFd,
}

static PASSER: OnceLock<Result<Passer, String>> = OnceLock::new();

/// How often a stream held for the relay is tried again (ms).
const RELAY_RETRY_MS: i32 = 2;

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn passer() -> std::io::Result<&'static Passer> {
    let passer = PASSER.get_or_init(|| {
        let (wake_read, wake) = pipe().map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("dora-output".to_owned())
            .spawn(move || pass_on(wake_read))
            .map_err(|e| e.to_string())?;
        Ok(Passer {
            new: Mutex::new(Vec::new()),
            wake,
        })
    });
    passer.as_ref().map_err(|error| {
        std::io::Error::other(format!(
            "cannot start the thread that passes on what nodes print: {error}"
        ))
    })
}

/// The thread: waits on every stream, passes on each full line.
fn pass_on(wake: OwnedFd) {
    let mut sources: Vec<Source> = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut polled: Vec<libc::pollfd> = Vec::new();
    loop {
        if let Some(Ok(passer)) = PASSER.get() {
            sources.append(&mut passer.new.lock().unwrap_or_else(PoisonError::into_inner));
        }
        polled.clear();
        polled.push(libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        // A held stream is not looked at (a negative descriptor), so that
        // neither its data nor its hang-up wakes the thread in a loop.
        polled.extend(sources.iter().map(|s| libc::pollfd {
            fd: if s.held.is_some() {
                -1
            } else {
                s.fd.as_raw_fd()
            },
            events: libc::POLLIN,
            revents: 0,
        }));
        let retry = sources.iter().any(|s| s.held.is_some());
        let timeout = if retry { RELAY_RETRY_MS } else { -1 };
        // SAFETY: `polled` holds `polled.len()` initialised entries.
        let ready =
            unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, timeout) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                // Out of kernel memory, say: say so, and do not spin.
                super::process::say(&format!(
                    "warning: cannot wait for what nodes print: {error}; trying again"
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        if polled[0].revents != 0 {
            // SAFETY: draining the non-blocking wake pipe into our buffer.
            while unsafe { libc::read(wake.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) }
                > 0
            {}
        }
        for (index, entry) in polled[1..].iter().enumerate() {
            let source = &mut sources[index];
            if source.held.is_some() {
                source.pass_lines();
            } else if entry.revents != 0 {
                source.read(&mut buffer);
            }
        }
        for index in (0..sources.len()).rev() {
            if sources[index].done() {
                sources.swap_remove(index).close();
            }
        }
    }
}

/// Passes on what `stdout` and `stderr` of node `node` carry, each line
/// to `out` (with `prefix` in front on a terminal) and to `log`.
pub fn pass(
    streams: Vec<(OwnedFd, Stream)>,
    node: &str,
    prefix: &str,
    log: NodeLog,
    out: &Out,
) -> std::io::Result<Printing> {
    let passer = passer()?;
    let open = Arc::new(Open {
        streams: Mutex::new(streams.len()),
        closed: Condvar::new(),
    });
    let prefix: Arc<str> = prefix.into();
    let node: Arc<str> = node.into();
    let log = Arc::new(Mutex::new(log));
    let mut new = passer.new.lock().unwrap_or_else(PoisonError::into_inner);
    for (fd, to) in streams {
        new.push(Source {
            fd,
            pending: Vec::new(),
            held: None,
            ended: false,
            node: node.clone(),
            prefix: prefix.clone(),
            log: log.clone(),
            out: out.clone(),
            to,
            colours: out.colours(to),
            open: open.clone(),
        });
    }
    drop(new);
    // SAFETY: writing one byte from our buffer to our pipe.
    unsafe { libc::write(passer.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    Ok(Printing(open))
}
