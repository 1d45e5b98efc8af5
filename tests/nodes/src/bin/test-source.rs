//! Sends `--count` messages of `--size` bytes on `out` (or `--output`) as
//! fast as it can, each followed by its checksum on `sum`, then waits
//! `--wait-ms` (default 0) and ends. With `--seq`, each message on `out`
//! has its number as parameter `seq`.

use dora_node_api::{DoraNode, Event, Parameter, Parameters};
use dora_test_nodes::{arg, checksum, flag, text_arg};

fn main() {
    let count = arg("--count", 100);
    let size = arg("--size", 8) as usize;
    let output = text_arg("--output", "out");
    let seq = flag("--seq");
    let (mut node, mut events) = match DoraNode::init_from_env() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1)
        }
    };
    for n in 0..count {
        let mut sum = 0;
        let parameters = if seq {
            Parameters::from([("seq".to_owned(), Parameter::Integer(n as i64))])
        } else {
            Parameters::new()
        };
        let result = node.send_output_with(&output, size, parameters, |buffer| {
            for (i, byte) in buffer.iter_mut().enumerate() {
                *byte = (i as u64 ^ n) as u8;
            }
            sum = checksum(buffer);
        });
        // The checksum goes in a second, small message on `sum`.
        let sums = Parameters::from([("checksum".to_owned(), Parameter::Integer(sum as i64))]);
        if let Err(error) = result.and_then(|()| node.send_output("sum", sums, &[])) {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
    println!(
        "sent {count} undelivered {}",
        node.undelivered(&output).unwrap_or(0)
    );
    // Waits, ending early at Stop.
    let until = std::time::Instant::now() + std::time::Duration::from_millis(arg("--wait-ms", 0));
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        if let Some(Event::Stop) = events.recv_timeout(left) {
            break;
        }
    }
}
