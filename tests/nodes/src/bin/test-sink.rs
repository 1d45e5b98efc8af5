//! Receives `in` (and, when given, `sum` with the checksums), sleeping
//! `--delay-ms` per message; prints what it got when its inputs close.
//! To test failures: `--kill-self-after N` ends it with SIGKILL after N
//! messages, `--abort-after N` aborts it (SIGABRT), `--fail-after N`
//! exits with code 1 (each counts the messages of this process), and
//! `--ignore-stop` makes it keep running after Stop.
//! With `--async`, it reads its events through the async `Stream`; with
//! `--show-parameters`, it prints `params <key>=<value>…` for each message
//! on `in`. With `--hold N`, it keeps the first N messages of `in` until
//! the end and checks them then (`held`, `intact`, and how many came as
//! `copies`).

use dora_node_api::{DoraNode, Event, Parameter};
use dora_test_nodes::{arg, block_on, checksum, flag};
use futures_core::Stream;

fn main() {
    let delay = std::time::Duration::from_millis(arg("--delay-ms", 0));
    let kill_after = arg("--kill-self-after", u64::MAX);
    let abort_after = arg("--abort-after", u64::MAX);
    let fail_after = arg("--fail-after", u64::MAX);
    let hold = arg("--hold", 0) as usize;
    let mut held = Vec::new();
    let mut expected_sums = std::collections::BTreeMap::new();
    let (_node, mut events) = match DoraNode::init_from_env() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1)
        }
    };
    let mut sums = Vec::new();
    let mut mismatches = 0;
    let mut checked = 0;
    let mut bytes = 0;
    let use_async = flag("--async");
    let show_parameters = flag("--show-parameters");
    let mut next = || {
        if use_async {
            block_on(std::future::poll_fn(|cx| {
                std::pin::Pin::new(&mut events).poll_next(cx)
            }))
        } else {
            events.next()
        }
    };
    while let Some(event) = next() {
        match event {
            Event::Input { id, data, metadata } if id.as_str() == "in" => {
                bytes += data.len();
                if held.len() < hold {
                    held.push((metadata.sequence, data));
                    continue;
                }
                sums.push((metadata.sequence, checksum(&data)));
                if show_parameters {
                    let shown: Vec<String> = metadata
                        .parameters
                        .iter()
                        .map(|(key, value)| format!("{key}={value:?}"))
                        .collect();
                    println!("params {}", shown.join(" "));
                }
                std::thread::sleep(delay);
                let got = sums.len() as u64;
                if got >= kill_after {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &std::process::id().to_string()])
                        .status();
                }
                if got >= abort_after {
                    std::process::abort();
                }
                if got >= fail_after {
                    println!("failing after {got}");
                    std::process::exit(1);
                }
            }
            Event::Input { metadata, .. } => {
                if let Some(Parameter::Integer(expected)) = metadata.parameters.get("checksum") {
                    let expected = *expected as u64;
                    expected_sums.insert(metadata.sequence, expected);
                    if let Some(index) = sums.iter().position(|(seq, _)| *seq == metadata.sequence)
                    {
                        mismatches += usize::from(sums[index].1 != expected);
                        checked += 1;
                    }
                }
            }
            Event::Stop if flag("--ignore-stop") => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            Event::Stop => break,
            Event::Error(error) => eprintln!("error: {error}"),
            Event::InputClosed { id } => println!("closed {id} after {}", sums.len()),
            Event::InputRecovered { id } => println!("recovered {id} after {}", sums.len()),
            _ => {}
        }
    }
    let (received, dropped) = events
        .input_counts()
        .find(|(id, _)| id.as_str() == "in")
        .map_or((0, 0), |(_, c)| (c.received, c.dropped));
    let intact = held
        .iter()
        .filter(|(sequence, data)| expected_sums.get(sequence) == Some(&checksum(data)))
        .count();
    let copies = held.iter().filter(|(_, data)| data.is_copy()).count();
    println!("received {received} dropped {dropped} bytes {bytes} checked {checked} mismatches {mismatches} held {} intact {intact} copies {copies}", held.len());
}
