//! Logs as data: what a record costs the node that logs it, and how many
//! lines and records `dora run` passes on, and relays as messages, per
//! second.
//!
//! Each case is a `dora run` of one writer node (this program) that logs
//! or prints [`LINES`] lines as fast as it can, and, for the relayed cases,
//! one reader that counts what arrives. The writer reports how long its
//! loop took, the reader how many messages it got and dropped; the table
//! gives the writer's time per line and the whole run's lines per second.

use std::path::Path;
use std::time::Instant;

use dora_node_api::log::{self, LogLevel};
use dora_node_api::{DoraNode, Event};

use crate::{append_result, run_dora, AnyResult};

/// Lines per case.
const LINES: u64 = 100_000;
/// Runs per case.
const RUNS: usize = 3;

/// One case: its name, and the writer's and reader's parts of the YAML.
struct Case {
    name: &'static str,
    writer: &'static str,
    reader: Option<&'static str>,
}

const CASES: [Case; 5] = [
    Case {
        name: "records, shown and kept",
        writer: "args: logs-writer record",
        reader: None,
    },
    Case {
        name: "records below min_log_level",
        writer: "args: logs-writer record\n    min_log_level: warn",
        reader: None,
    },
    Case {
        name: "printed lines, shown and kept",
        writer: "args: logs-writer print",
        reader: None,
    },
    Case {
        name: "printed lines, send_stdout_as",
        writer: "args: logs-writer print\n    send_stdout_as: lines\n    outputs: [lines]",
        reader: Some("lines: { source: writer/lines, queue_size: 100000 }"),
    },
    Case {
        name: "records, dora/logs",
        writer: "args: logs-writer record",
        reader: Some("lines: { source: dora/logs/info, queue_size: 100000 }"),
    },
];

fn dataflow(dir: &Path, exe: &Path, case: &Case) -> AnyResult<std::path::PathBuf> {
    let mut yaml = format!(
        "nodes:\n  - id: writer\n    path: {exe}\n    {}\n",
        case.writer,
        exe = exe.display()
    );
    if let Some(input) = case.reader {
        yaml += &format!(
            "  - id: reader\n    path: {exe}\n    args: logs-reader\n    inputs:\n      {input}\n",
            exe = exe.display()
        );
    }
    let file = dir.join("logs.yml");
    std::fs::write(&file, yaml)?;
    Ok(file)
}

/// What one run measured.
struct Measured {
    /// The writer's time per line (ns).
    per_line: f64,
    /// The whole run's wall time (ms).
    wall: f64,
    /// Messages the reader received and dropped, when there is one.
    reader: Option<(u64, u64)>,
}

fn once(dora: &Path, file: &Path) -> AnyResult<Measured> {
    let results = file.with_extension("results");
    let wall = run_dora(dora, file, &results)?;
    let text = std::fs::read_to_string(&results)?;
    let mut writer = None;
    let mut reader = None;
    for line in text.lines() {
        let words: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        match (line.split_whitespace().next(), words.as_slice()) {
            (Some("writer"), [ns]) => writer = Some(*ns as f64 / LINES as f64),
            (Some("reader"), [received, dropped]) => reader = Some((*received, *dropped)),
            _ => {}
        }
    }
    let per_line = writer.ok_or("the writer reported nothing")?;
    Ok(Measured {
        per_line,
        wall,
        reader,
    })
}

/// Runs every case and prints the table; `exe` is this program.
pub fn run(exe: &Path) -> AnyResult<()> {
    let dora = exe.with_file_name("dora");
    let dir = std::env::temp_dir().join(format!("dora-bench-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut rows = Vec::new();
    for case in &CASES {
        let file = dataflow(&dir, exe, case)?;
        for run in 1..=RUNS {
            eprintln!("{}, run {run} of {RUNS} ...", case.name);
            rows.push((case.name, once(&dora, &file)?));
        }
    }
    std::fs::remove_dir_all(&dir)?;
    println!("\nlogs: {LINES} lines per run, written as fast as the node can");
    println!(
        "{:<32}  {:>12}  {:>10}  {:>12}  {:>10}  {:>8}",
        "case", "node ns/line", "run ms", "lines/s", "received", "dropped"
    );
    for (name, measured) in rows {
        let Measured {
            per_line,
            wall,
            reader,
        } = measured;
        let (received, dropped) = match reader {
            Some((r, d)) => (r.to_string(), d.to_string()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "{name:<32}  {per_line:>12.0}  {wall:>10.0}  {:>12.0}  {received:>10}  {dropped:>8}",
            LINES as f64 / (wall / 1e3)
        );
    }
    Ok(())
}

/// Logs (`record`) or prints (`print`) [`LINES`] lines, then reports how
/// long that took.
pub fn writer(what: Option<&str>) -> AnyResult<()> {
    let (_node, _events) = DoraNode::init_from_env()?;
    let started = Instant::now();
    match what {
        Some("record") => {
            for n in 0..LINES {
                log::log(LogLevel::Info, &format!("reading {n}"));
            }
        }
        Some("print") => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            for n in 0..LINES {
                writeln!(stdout, "reading {n}")?;
            }
        }
        _ => return Err("logs-writer takes `record` or `print`".into()),
    }
    append_result(&format!("writer {}", started.elapsed().as_nanos()))
}

/// Counts what arrives until every line is accounted for (received or
/// dropped), its input closes, or the run stops; then reports how much it
/// received and how much its input dropped.
pub fn reader() -> AnyResult<()> {
    let (_node, mut events) = DoraNode::init_from_env()?;
    let counts = |events: &dora_node_api::EventStream| {
        events
            .input_counts()
            .fold((0, 0), |(r, d), (_, c)| (r + c.received, d + c.dropped))
    };
    loop {
        // `dora/logs` never closes: the reader ends once it has them all.
        let (received, dropped) = counts(&events);
        if received + dropped >= LINES {
            break;
        }
        match events.recv_timeout(std::time::Duration::from_millis(100)) {
            Some(Event::InputClosed { .. } | Event::Stop) => break,
            None if events.is_ended() => break,
            _ => {}
        }
    }
    let (received, dropped) = counts(&events);
    append_result(&format!("reader {received} {dropped}"))
}
