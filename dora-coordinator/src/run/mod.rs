//! `dora run`: one process that builds a dataflow, starts every node,
//! passes on their output, stops them on Ctrl-C, SIGTERM or a time limit,
//! and reports how each one ended.
//!
//! The launcher never carries messages: nodes talk to each other through
//! shared memory. It only starts them, runs the start-up barrier, tells
//! them to stop, and tells a node when an input's source has ended.

mod build;
mod process;
mod summary;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dora_core::check::{check_file, Content};
use dora_core::config::NodeConfig;
use dora_core::descriptor::Dataflow;
use dora_core::id::NodeId;
use dora_node_api::launch::RunChannels;
use dora_node_api::transport::remove_run_files;
use eyre::{bail, WrapErr};

use process::NodeProcess;
pub use summary::Ended;

/// The colours of the node ids in front of their output, in turn.
const PREFIX_COLOURS: [anstyle::AnsiColor; 6] = [
    anstyle::AnsiColor::Cyan,
    anstyle::AnsiColor::Magenta,
    anstyle::AnsiColor::Yellow,
    anstyle::AnsiColor::Green,
    anstyle::AnsiColor::Blue,
    anstyle::AnsiColor::Red,
];

/// How long the nodes have to get ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the launcher looks at its nodes.
const POLL: Duration = Duration::from_millis(10);

/// How a run is stopped.
pub struct RunOptions {
    /// How long nodes have to end after `Stop` before they are killed.
    pub grace: Duration,
    /// Stop the dataflow after this long.
    pub stop_after: Option<Duration>,
}

/// One node of the run.
struct Slot {
    id: NodeId,
    process: Option<NodeProcess>,
    ended: Option<Ended>,
    /// The nodes that read this node's outputs, by index.
    downstream: BTreeSet<usize>,
}

/// Kills what is left and removes the run's shared-memory files, whatever
/// way the run ends.
struct Cleanup<'a> {
    run_id: &'a str,
    slots: Vec<Slot>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Some(process) = &mut slot.process {
                let _ = process.child.kill();
                let _ = process.child.wait();
            }
        }
        let _ = remove_run_files(self.run_id);
    }
}

fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:08x}", mixed as u32 ^ (mixed >> 32) as u32)
}

pub fn run(file: &Path, options: &RunOptions) -> eyre::Result<ExitCode> {
    let checked = check_file(file);
    crate::cli::print_rendered(&checked.render(true));
    let dataflow = match checked.content {
        Content::Dataflow(dataflow) if checked.is_valid() => dataflow,
        Content::Resources(_) => bail!(
            "{} holds cluster resources; `dora run` runs a dataflow",
            file.display()
        ),
        _ => bail!(
            "{} is not a valid dataflow; fix the errors above, then run it again",
            file.display()
        ),
    };
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Absolute, since nodes start in it and their paths are relative to it.
    let dir = dir
        .canonicalize()
        .wrap_err_with(|| format!("cannot find the folder of {}", file.display()))?;
    build::run_builds(&dataflow, &dir)?;

    let run_id = run_id();
    let run_dir = dir.join("out").join(&run_id);
    std::fs::create_dir_all(&run_dir)
        .wrap_err_with(|| format!("cannot create the run folder {}", run_dir.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).wrap_err("cannot watch for Ctrl-C")?;
    }

    let configs = NodeConfig::for_dataflow(&dataflow, &run_id);
    let ids: Vec<NodeId> = dataflow.nodes.iter().map(|n| n.id.clone()).collect();
    let mut run = Cleanup {
        run_id: &run_id,
        slots: slots(&ids, &configs),
    };
    let channels = RunChannels::open(&run_id, &ids)?;
    start_nodes(&dataflow, &configs, &dir, &run_dir, &mut run.slots)?;
    channels.start(START_TIMEOUT, || first_ended(&mut run.slots))?;

    supervise(&channels, &mut run.slots, &stop, options);
    let failed = summary::print(
        &run.slots
            .iter()
            .map(|s| (&s.id, s.ended.as_ref()))
            .collect::<Vec<_>>(),
        &run_dir,
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn slots(ids: &[NodeId], configs: &std::collections::BTreeMap<NodeId, NodeConfig>) -> Vec<Slot> {
    ids.iter()
        .map(|id| {
            let downstream = configs[id]
                .outputs
                .values()
                .flat_map(|o| &o.receivers)
                .filter_map(|r| ids.iter().position(|n| *n == r.node))
                .collect();
            Slot {
                id: id.clone(),
                process: None,
                ended: None,
                downstream,
            }
        })
        .collect()
}

fn start_nodes(
    dataflow: &Dataflow,
    configs: &std::collections::BTreeMap<NodeId, NodeConfig>,
    dir: &Path,
    run_dir: &Path,
    slots: &mut [Slot],
) -> eyre::Result<()> {
    let width = dataflow
        .nodes
        .iter()
        .map(|n| n.id.as_str().len())
        .max()
        .unwrap_or(0);
    for (index, (node, slot)) in dataflow.nodes.iter().zip(slots.iter_mut()).enumerate() {
        let log: PathBuf = run_dir.join(format!("{}.log", node.id));
        let style = anstyle::Style::new()
            .fg_color(Some(PREFIX_COLOURS[index % PREFIX_COLOURS.len()].into()));
        let prefix = format!("{style}{:>width$} |{style:#} ", node.id.as_str());
        slot.process = Some(process::spawn(node, &configs[&node.id], dir, log, prefix)?);
    }
    Ok(())
}

/// A node that has ended, with the reason, if any has.
fn first_ended(slots: &mut [Slot]) -> Option<(NodeId, String)> {
    slots.iter_mut().find_map(|slot| {
        let status = slot.process.as_mut()?.child.try_wait().ok()??;
        Some((
            slot.id.clone(),
            format!("it exited with {status}; see its output above"),
        ))
    })
}

/// Waits for every node to end: passes on `Stop` (Ctrl-C, SIGTERM or the
/// time limit), closes the inputs of nodes whose sources ended, and kills
/// what is still running when the grace period is over.
fn supervise(channels: &RunChannels, slots: &mut [Slot], stop: &AtomicBool, options: &RunOptions) {
    let started = Instant::now();
    let mut stopping_since: Option<Instant> = None;
    while slots.iter().any(|s| s.ended.is_none()) {
        let time_is_up = options
            .stop_after
            .is_some_and(|limit| started.elapsed() >= limit);
        if stopping_since.is_none() && (stop.load(Ordering::Relaxed) || time_is_up) {
            stopping_since = Some(Instant::now());
            for (index, slot) in slots.iter().enumerate() {
                if slot.ended.is_none() {
                    if let Err(error) = channels.stop(index) {
                        eprintln!("cannot ask node `{}` to stop: {error}", slot.id);
                    }
                }
            }
        }
        for index in 0..slots.len() {
            let Some(process) = &mut slots[index].process else {
                continue;
            };
            if slots[index].ended.is_some() {
                continue;
            }
            let ended = match process.child.try_wait() {
                Ok(Some(status)) => Some(Ended::Exited(status)),
                Ok(None) => match stopping_since {
                    Some(since) if since.elapsed() >= options.grace => {
                        let _ = process.child.kill();
                        let _ = process.child.wait();
                        Some(Ended::Killed {
                            grace: options.grace,
                        })
                    }
                    _ => None,
                },
                Err(error) => Some(Ended::Lost(error.to_string())),
            };
            if let Some(ended) = ended {
                for printer in std::mem::take(&mut process.printers) {
                    let _ = printer.join();
                }
                slots[index].process = None;
                slots[index].ended = Some(ended);
                for &receiver in &slots[index].downstream.clone() {
                    if slots[receiver].ended.is_none() {
                        let _ = channels.close_inputs_from(receiver, index);
                    }
                }
            }
        }
        std::thread::sleep(POLL);
    }
}
