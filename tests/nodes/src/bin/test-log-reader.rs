//! Logs `reader started` (a warning), then prints every message it
//! receives as `<input>: <text>` (UTF-8), and `closed <input>` when an
//! input closes; ends at Stop, or after `--until-closed N` inputs have
//! closed.

use dora_node_api::{DoraNode, Event};
use dora_test_nodes::arg;

fn main() {
    let until_closed = arg("--until-closed", u64::MAX);
    let mut closed = 0;
    let (_node, events) = match DoraNode::init_from_env() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1)
        }
    };
    log::warn!("reader started");
    for event in events {
        match event {
            Event::Input { id, data, .. } => {
                println!("{id}: {}", String::from_utf8_lossy(&data));
            }
            Event::InputClosed { id } => {
                println!("closed {id}");
                closed += 1;
                if closed >= until_closed {
                    break;
                }
            }
            Event::Stop => break,
            _ => {}
        }
    }
}
