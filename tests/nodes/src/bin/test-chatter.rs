//! Prints for `dora run` to pass on. With `--lines N`, N numbered lines
//! on stdout and N on stderr, as fast as it can, from two threads; the
//! lines are long (`--width` bytes) so that a line split in pieces shows.
//! With `--every-ms N`, each thread waits N ms after each line.
//! With `--cpus`, the CPUs it may run on, as the kernel says.

use std::io::Write;

use dora_node_api::DoraNode;
use dora_test_nodes::{arg, flag};

fn main() {
    let lines = arg("--lines", 0);
    let width = arg("--width", 200) as usize;
    let every = std::time::Duration::from_millis(arg("--every-ms", 0));
    let (_node, _events) = match DoraNode::init_from_env() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1)
        }
    };
    if flag("--cpus") {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        match status.lines().find(|l| l.starts_with("Cpus_allowed_list:")) {
            Some(line) => println!("{line}"),
            None => eprintln!("error: no Cpus_allowed_list in /proc/self/status"),
        }
    }
    let stderr = std::thread::spawn(move || {
        for n in 0..lines {
            // Written at once, so that any splitting is `dora run`'s.
            let line = format!("err {n:06} {}\n", "e".repeat(width));
            let _ = std::io::stderr().write_all(line.as_bytes());
            std::thread::sleep(every);
        }
    });
    let mut stdout = std::io::stdout().lock();
    for n in 0..lines {
        let _ = writeln!(stdout, "out {n:06} {}", "o".repeat(width));
        let _ = stdout.flush();
        std::thread::sleep(every);
    }
    let _ = stderr.join();
}
