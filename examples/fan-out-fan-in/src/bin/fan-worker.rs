//! Reads each frame (without copying it) and sends its number, tagged
//! with the worker's name (`--name`).

use dora_node_api::{DoraNode, Event, Parameter, Parameters};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .iter()
        .position(|a| a == "--name")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let (mut node, events) = DoraNode::init_from_env()?;
    for event in events {
        match event {
            Event::Input { data, .. } => {
                let number = data.get(..8).ok_or("a frame is shorter than 8 bytes")?;
                let tag =
                    Parameters::from([("worker".to_owned(), Parameter::String(name.clone()))]);
                node.send_output("result", tag, number)?;
            }
            Event::Stop => break,
            _ => {}
        }
    }
    Ok(())
}
