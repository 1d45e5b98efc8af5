//! Logs and prints for `dora run` to pass on: `--count N` rounds, each
//! with a record at every level through the `log` crate (`error N`,
//! `warn N`, `info N`, `debug N`, `trace N`), one with a structured field
//! through `dora_node_api::log`, a printed line on stdout (`printed N`)
//! and one on stderr (`complained N`). Then it waits for Stop, unless
//! `--exit` says to end at once.

use dora_node_api::log::{self as dora_log, LogLevel, LogRecord};
use dora_node_api::{DoraNode, Event};
use dora_test_nodes::{arg, flag};

fn main() {
    let count = arg("--count", 1);
    let (_node, events) = match DoraNode::init_from_env() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1)
        }
    };
    for n in 0..count {
        log::error!("error {n}");
        log::warn!("warn {n}");
        log::info!("info {n}");
        log::debug!("debug {n}");
        log::trace!("trace {n}");
        let mut record = LogRecord::new(LogLevel::Info, format!("measured {n}"));
        record.fields.insert("round".into(), n.into());
        dora_log::write(&record);
        println!("printed {n}");
        eprintln!("complained {n}");
    }
    if flag("--exit") {
        return;
    }
    for event in events {
        if matches!(event, Event::Stop) {
            break;
        }
    }
}
