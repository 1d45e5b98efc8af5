//! Panic reports that do not stall the runtime.
//!
//! A Rust operator library carries its own copy of std, and so its own
//! panic hook. std's default hook symbolises and prints the backtrace
//! (with `RUST_BACKTRACE=1`) inside the panicking call: 75 to 230 ms
//! during which the runtime's only thread runs no other operator.
//!
//! The hook installed here, once, at the library's first
//! `dora_init_operator`, only captures: the thread's name, the location,
//! the message, and a [`Backtrace`] (walking the stack is cheap; turning
//! addresses into names is the slow part). A thread of the library,
//! started at its first panic, renders and prints the report. The
//! message still reaches the runtime through `set_error`, at once.
//!
//! Reports must not be lost at the end, nor may the thread outlive the
//! library's code: the library registers [`flush`] with `atexit`, which
//! glibc runs at process exit or when the library is unloaded, whichever
//! comes first. It closes the queue and waits until the thread has
//! printed everything and ended.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::io::Write;
use std::panic::PanicHookInfo;
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, Once, PoisonError};
use std::thread::JoinHandle;

/// One panic, captured in the panicking thread.
struct Report {
    thread: String,
    location: String,
    message: String,
    backtrace: Backtrace,
}

impl Report {
    /// The text std's default hook prints.
    fn render(&self) -> String {
        let mut text = format!(
            "\nthread '{}' panicked at {}:\n{}\n",
            self.thread, self.location, self.message
        );
        match self.backtrace.status() {
            BacktraceStatus::Captured => {
                text += &format!("stack backtrace:\n{}", self.backtrace);
            }
            BacktraceStatus::Disabled => text.push_str(
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
            ),
            _ => {}
        }
        text
    }

    fn print(&self) {
        // Nothing sensible is left to do if stderr is gone.
        let _ = std::io::stderr().lock().write_all(self.render().as_bytes());
    }
}

/// The printing thread and its queue, once started.
struct Printer {
    queue: Sender<Report>,
    thread: JoinHandle<()>,
}

static PRINTER: Mutex<Option<Printer>> = Mutex::new(None);
static INSTALL: Once = Once::new();

// libc's, not part of the operator ABI (cbindgen-operator.toml leaves it
// out of the header).
unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Installs the hook; later calls do nothing.
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(hook));
        // SAFETY: `flush` is a function of this library that takes no
        // argument; glibc runs it before the library's code goes away.
        // Should registering fail, reports may be lost at exit, no worse.
        unsafe { atexit(flush) };
    });
}

fn hook(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned());
    let report = Report {
        thread: std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned(),
        location: info
            .location()
            .map_or_else(|| "an unknown place".to_owned(), |l| l.to_string()),
        message,
        backtrace: Backtrace::capture(),
    };
    let mut printer = PRINTER.lock().unwrap_or_else(PoisonError::into_inner);
    if printer.is_none() {
        let (queue, reports) = mpsc::channel::<Report>();
        let thread = std::thread::Builder::new()
            .name("dora-panic-printer".to_owned())
            .spawn(move || reports.iter().for_each(|report| report.print()));
        match thread {
            Ok(thread) => *printer = Some(Printer { queue, thread }),
            // No thread to be had: print here, slow but not lost.
            Err(_) => return report.print(),
        }
    }
    if let Some(printer) = printer.as_ref() {
        if let Err(unsent) = printer.queue.send(report) {
            unsent.0.print();
        }
    }
}

/// Prints what is queued and ends the printing thread.
extern "C" fn flush() {
    let printer = PRINTER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(Printer { queue, thread }) = printer {
        // The thread ends when the queue is closed and empty.
        drop(queue);
        let _ = thread.join();
    }
}
