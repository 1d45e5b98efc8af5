//! Sends a numbered frame of 64 KiB at every tick, written in place in
//! shared memory.

use dora_node_api::{DoraNode, Event, Parameters};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut node, events) = DoraNode::init_from_env()?;
    let mut frame: u64 = 0;
    for event in events {
        match event {
            Event::Input { .. } => {
                node.send_output_with("frame", 64 * 1024, Parameters::new(), |buffer| {
                    buffer[..8].copy_from_slice(&frame.to_le_bytes());
                })?;
                frame += 1;
            }
            Event::Stop => break,
            _ => {}
        }
    }
    Ok(())
}
