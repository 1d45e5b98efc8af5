//! The `dora` command as a library: the `dora` binary calls it, and so
//! does the `dora` command of the Python package.

mod cli;
#[cfg(feature = "cluster")]
mod client;
#[cfg(feature = "cluster")]
mod control;
#[cfg(feature = "cluster")]
mod daemon;
#[cfg(feature = "cluster")]
mod driver;
mod graph;
pub mod placement;
mod run;
#[cfg(feature = "cluster")]
mod server;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// Runs the `dora` command with `args` (the program name first) and
/// returns its exit code: 0 on success, 1 on failure, 2 for bad usage,
/// or the code of what it ran (`dora exec`).
pub fn main_with_args(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    let args = match cli::Cli::try_parse_from(args) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { 2 } else { 0 };
        }
    };
    match cli::run(args) {
        // Every code a command gives back, such as `dora exec`'s, is one
        // of these; `ExitCode` does not tell its number otherwise.
        Ok(code) => (0..=u8::MAX)
            .find(|n| ExitCode::from(*n) == code)
            .unwrap_or(1),
        Err(error) => {
            cli::print_error(&error);
            1
        }
    }
}
