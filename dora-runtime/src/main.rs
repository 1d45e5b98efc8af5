//! `dora-runtime`: started by `dora run` for every node that lists
//! `operators:`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match dora_runtime::run_node() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
