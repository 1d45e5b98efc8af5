//! Prints every message it receives, how late it arrived, and its
//! parameters.

use dora_node_api::{DoraNode, Event};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (_node, mut events) = DoraNode::init_from_env()?;
    let mut received = 0;
    for event in events.by_ref() {
        match event {
            Event::Input { data, metadata, .. } => {
                received += 1;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_nanos() as u64;
                let latency_us = now.saturating_sub(metadata.timestamp_ns) / 1_000;
                let parameters: String = metadata
                    .parameters
                    .iter()
                    .map(|(key, value)| format!(" {key}={value:?}"))
                    .collect();
                println!(
                    "{} ({latency_us} us){parameters}",
                    String::from_utf8_lossy(&data)
                );
            }
            Event::InputClosed { id } => println!("input `{id}` closed"),
            Event::Stop => break,
            Event::Error(error) => eprintln!("error: {error}"),
            // Kinds of event this node has no use for.
            _ => {}
        }
    }
    let dropped: u64 = events.input_counts().map(|(_, c)| c.dropped).sum();
    println!("received {received} messages, {dropped} dropped");
    Ok(())
}
