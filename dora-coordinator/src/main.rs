//! `dora`: check, draw and run dora dataflows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(dora_coordinator::main_with_args(std::env::args_os()))
}
