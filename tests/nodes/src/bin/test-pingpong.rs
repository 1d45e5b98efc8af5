//! Ping-pong between two nodes, to catch a lost wake-up: each side sleeps
//! right after it sends, so every round races a wake-up against a sleep.
//! With `--rounds N` it sends `ping` and waits for `pong` N times, failing
//! if an answer takes more than ten seconds; without, it answers every
//! `ping` with a `pong`.

use std::time::Duration;

use dora_node_api::{DoraNode, Event, Parameters};
use dora_test_nodes::arg;

fn main() {
    let rounds = arg("--rounds", 0);
    let (mut node, mut events) = match DoraNode::init_from_env() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1)
        }
    };
    if rounds == 0 {
        for event in events.by_ref() {
            if let Event::Input { data, .. } = event {
                if let Err(error) = node.send_output("pong", Parameters::new(), &data) {
                    eprintln!("error: {error}");
                    std::process::exit(1);
                }
            }
        }
        return;
    }
    for round in 0..rounds {
        let ping = round.to_le_bytes();
        if let Err(error) = node.send_output("ping", Parameters::new(), &ping) {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        match events.recv_timeout(Duration::from_secs(10)) {
            Some(Event::Input { data, .. }) if *data == ping => {}
            other => {
                eprintln!("round {round}: expected the pong, got {other:?}");
                std::process::exit(1);
            }
        }
    }
    println!("rounds {rounds}");
}
