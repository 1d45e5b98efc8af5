//! Sends 1, 2, 3, ... at every tick, and prints each total that comes back
//! from the operators.

use dora_node_api::{DoraNode, Event, Parameters};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut node, mut events) = DoraNode::init_from_env()?;
    let mut count: u64 = 0;
    for event in events.by_ref() {
        match event {
            Event::Input { id, .. } if id.as_str() == "tick" => {
                count += 1;
                node.send_output("number", Parameters::new(), &count.to_le_bytes())?;
            }
            Event::Input { data, .. } => {
                let total = u64::from_le_bytes((*data).try_into()?);
                println!("total of the doubled numbers up to {count}: {total}");
            }
            Event::InputClosed { id } => println!("input `{id}` closed"),
            Event::Stop => break,
            Event::Error(error) => eprintln!("error: {error}"),
            // Kinds of event this node has no use for.
            _ => {}
        }
    }
    Ok(())
}
