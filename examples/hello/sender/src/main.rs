//! Sends "hello #N" on `message` at every tick of its timer. With
//! `--count N` it ends by itself after N messages; with `--fail-after N`
//! it fails after N messages, to show how restart policies work.

use dora_node_api::{DoraNode, Event, Parameter, Parameters};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let number_after = |flag: &str| -> Result<Option<i64>, String> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or(format!("{flag} needs a number")),
            None => Ok(None),
        }
    };
    let limit = number_after("--count")?;
    let fail_after = number_after("--fail-after")?;
    let (mut node, events) = DoraNode::init_from_env()?;
    let mut count: i64 = 0;
    for event in events {
        match event {
            Event::Input { id, .. } if id.as_str() == "tick" => {
                if limit.is_some_and(|limit| count >= limit) {
                    break;
                }
                if fail_after.is_some_and(|n| count >= n) {
                    return Err(format!("failing on purpose after {count} messages").into());
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
