//! Sends "hello #N" on `message` at every tick of its timer; with
//! `--count N`, ends by itself after N messages.

use dora_node_api::{DoraNode, Event, Parameter, Parameters};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let limit: Option<i64> = match args.iter().position(|a| a == "--count") {
        Some(i) => Some(
            args.get(i + 1)
                .and_then(|n| n.parse().ok())
                .ok_or("--count needs a number")?,
        ),
        None => None,
    };
    let (mut node, events) = DoraNode::init_from_env()?;
    let mut count: i64 = 0;
    for event in events {
        match event {
            Event::Input { id, .. } if id.as_str() == "tick" => {
                if limit.is_some_and(|limit| count >= limit) {
                    break;
                }
                count += 1;
                let text = format!("hello #{count}");
                let parameters =
                    Parameters::from([("count".to_owned(), Parameter::Integer(count))]);
                node.send_output("message", parameters, text.as_bytes())?;
            }
            Event::Stop => break,
            Event::Error(error) => eprintln!("error: {error}"),
            _ => {}
        }
    }
    println!("sent {count} messages");
    Ok(())
}
