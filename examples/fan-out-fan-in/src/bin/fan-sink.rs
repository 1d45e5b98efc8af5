//! Gathers the workers' results and prints, once a second, how many
//! frames every worker has handled.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dora_node_api::{DoraNode, Event, Parameter};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (_node, events) = DoraNode::init_from_env()?;
    let mut handled: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_report = Instant::now();
    for event in events {
        match event {
            Event::Input { metadata, .. } => {
                if let Some(Parameter::String(worker)) = metadata.parameters.get("worker") {
                    *handled.entry(worker.clone()).or_default() += 1;
                }
                if last_report.elapsed() >= Duration::from_secs(1) {
                    println!("frames handled: {handled:?}");
                    last_report = Instant::now();
                }
            }
            Event::Stop => break,
            _ => {}
        }
    }
    println!("frames handled in all: {handled:?}");
    Ok(())
}
