//! Sends `--count` messages of `--size` bytes on `out` (or `--output`) as
//! fast as it can, each followed by its checksum on `sum`, then waits
//! `--wait-ms` (default 0) and ends. With `--pause-ms M --pause-after K`,
//! it stops sending for M ms after K messages; with `--every-ms N`, it
//! waits N ms after each message. With `--seq`, each message on `out`
//! has its number as parameter `seq`. With `--uninit`, each message is
//! written into a loan that is not zeroed first, a chunk at a time, and
//! `--unwritten N` leaves its last N bytes unwritten (so sending fails).

use dora_node_api::{DoraNode, Event, Parameter, Parameters};
use dora_test_nodes::{arg, checksum, flag, text_arg};

fn main() {
    let count = arg("--count", 100);
    let size = arg("--size", 8) as usize;
    let output = text_arg("--output", "out");
    let seq = flag("--seq");
    let uninit = flag("--uninit");
    let unwritten = arg("--unwritten", 0) as usize;
    let pause = std::time::Duration::from_millis(arg("--pause-ms", 0));
    let pause_after = arg("--pause-after", u64::MAX);
    let every = std::time::Duration::from_millis(arg("--every-ms", 0));
    let (mut node, mut events) = match DoraNode::init_from_env() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1)
        }
    };
    for n in 0..count {
        if n == pause_after {
            std::thread::sleep(pause);
        }
        let mut sum = 0;
        let parameters = if seq {
            Parameters::from([("seq".to_owned(), Parameter::Integer(n as i64))])
        } else {
            Parameters::new()
        };
        let result = if uninit {
            send_in_chunks(&mut node, &output, size, unwritten, parameters, n, &mut sum)
        } else {
            node.send_output_with(&output, size, parameters, |buffer| {
                for (i, byte) in buffer.iter_mut().enumerate() {
                    *byte = (i as u64 ^ n) as u8;
                }
                sum = checksum(buffer);
            })
        };
        // The checksum goes in a second, small message on `sum`.
        let sums = Parameters::from([("checksum".to_owned(), Parameter::Integer(sum as i64))]);
        if let Err(error) = result.and_then(|()| node.send_output("sum", sums, &[])) {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        std::thread::sleep(every);
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

/// Writes message `n` into a loan that is not zeroed first, 4 KiB at a
/// time, leaving its last `unwritten` bytes unwritten, and sends it.
fn send_in_chunks(
    node: &mut DoraNode,
    output: &str,
    size: usize,
    unwritten: usize,
    parameters: Parameters,
    n: u64,
    sum: &mut u64,
) -> Result<(), dora_node_api::SendError> {
    let mut loan = node.loan_output_uninit(output, size, parameters)?;
    let mut chunk = [0u8; 4096];
    let end = size.saturating_sub(unwritten);
    while loan.written() < end {
        let at = loan.written();
        let len = chunk.len().min(end - at);
        for (i, byte) in chunk[..len].iter_mut().enumerate() {
            *byte = ((at + i) as u64 ^ n) as u8;
        }
        if let Err(error) = loan.extend_from_slice(&chunk[..len]) {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
    *sum = checksum(loan.filled());
    node.send_loan(loan)
}
