//! `dora run`: one process that builds a dataflow, starts every node,
//! passes on their output, restarts nodes as their policy says, stops them
//! on Ctrl-C, SIGTERM or a time limit, and reports how each one ended.
//!
//! The launcher never carries messages: nodes talk to each other through
//! shared memory. It only starts them, runs the start-up barrier, tells
//! them to stop, and tells a node when an input's source has ended.

mod build;
mod process;
mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dora_core::check::{check_file, Content};
use dora_core::config::NodeConfig;
use dora_core::descriptor::{Dataflow, RestartPolicy};
use dora_core::id::NodeId;
use dora_node_api::launch::{RunChannels, StartError};
use dora_node_api::transport::{claim_run, remove_abandoned_runs, remove_run_files};
use eyre::{bail, WrapErr};

use process::{NodeFiles, NodeProcess};
use summary::{Ended, Row};

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
    /// How it ended for good.
    ended: Option<Ended>,
    /// How its last process ended, while a restart is pending.
    last_exit: Option<Ended>,
    restart_at: Option<Instant>,
    restarts: u32,
    /// The nodes that read this node's outputs, by index.
    downstream: BTreeSet<usize>,
}

/// A run in progress. Dropping it kills what is left and removes the run's
/// shared-memory files, whatever way the run ends.
struct Run<'a> {
    dataflow: &'a Dataflow,
    configs: BTreeMap<NodeId, NodeConfig>,
    dir: PathBuf,
    run_dir: PathBuf,
    run_id: String,
    slots: Vec<Slot>,
    prefix_width: usize,
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Some(process) = &mut slot.process {
                process.kill();
                // A node's last words (why it failed to start, say) come
                // before the launcher's own error.
                process.join_printers_for(Duration::from_secs(1));
            }
        }
        let _ = remove_run_files(&self.run_id);
    }
}

/// A `dora run` killed with SIGKILL takes its nodes with it (they ask the
/// kernel for that) but leaves its files behind; the next run removes them.
fn clean_up_abandoned_runs() {
    match remove_abandoned_runs() {
        Ok(ids) if !ids.is_empty() => eprintln!(
            "removed the shared memory of {} earlier run(s) whose `dora run` was killed: {}",
            ids.len(),
            ids.join(", ")
        ),
        Ok(_) => {}
        Err(error) => eprintln!("warning: cannot remove the files of earlier runs: {error}"),
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
    let mut checked = check_file(file);
    checked.check_local_run(&process::allowed_cores()?);
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
    // Watched from the start, so that Ctrl-C during the builds ends the run
    // with a message rather than killing it mid-way.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).wrap_err("cannot watch for Ctrl-C")?;
    }
    build::run_builds(&dataflow, &dir, &stop)?;

    clean_up_abandoned_runs();
    let run_id = run_id();
    claim_run(&run_id).wrap_err("cannot create the run's folder under /tmp")?;
    let run_dir = dir.join("out").join(&run_id);
    std::fs::create_dir_all(&run_dir)
        .wrap_err_with(|| format!("cannot create the run folder {}", run_dir.display()))?;

    let configs = NodeConfig::for_dataflow(&dataflow, &run_id);
    let ids: Vec<NodeId> = dataflow.nodes.iter().map(|n| n.id.clone()).collect();
    let slots = slots(&ids, &configs);
    let mut run = Run {
        dataflow: &dataflow,
        configs,
        dir,
        run_dir,
        run_id: run_id.clone(),
        slots,
        prefix_width: ids.iter().map(|id| id.as_str().len()).max().unwrap_or(0),
    };
    let channels = RunChannels::open(&run_id, &ids)?;
    for index in 0..ids.len() {
        run.spawn(index)?;
    }
    let all: Vec<usize> = (0..ids.len()).collect();
    channels.start(&all, false, START_TIMEOUT, || {
        if stop.load(Ordering::Relaxed) {
            return Some(StartError::Stopped);
        }
        run.first_ended()
    })?;

    let stopped = run.supervise(&channels, &stop, options);
    let stats: Vec<Option<dora_node_api::stats::NodeStats>> = run
        .slots
        .iter()
        .map(|slot| {
            dora_node_api::stats::read(&NodeFiles::new(&run.run_dir, slot.id.as_str()).stats)
        })
        .collect();
    let rows: Vec<Row> = run
        .slots
        .iter()
        .zip(&stats)
        .map(|(slot, node_stats)| Row {
            id: &slot.id,
            ended: slot.ended.as_ref(),
            restarts: slot.restarts,
            stats: node_stats.clone(),
            // After Stop, messages left unread are expected, not lost.
            lost: if stopped {
                Vec::new()
            } else {
                lost_messages(&run.configs[&slot.id], &ids, &stats)
            },
        })
        .collect();
    let failed = summary::print(&rows, &run.run_dir);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn slots(ids: &[NodeId], configs: &BTreeMap<NodeId, NodeConfig>) -> Vec<Slot> {
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
                last_exit: None,
                restart_at: None,
                restarts: 0,
                downstream,
            }
        })
        .collect()
}

/// For each input of a node: the messages its sender sent that the node
/// neither read nor counted as dropped. Only known when both left counts.
fn lost_messages(
    config: &NodeConfig,
    ids: &[NodeId],
    stats: &[Option<dora_node_api::stats::NodeStats>],
) -> Vec<(String, String, u64)> {
    let Some(own) = ids
        .iter()
        .position(|id| *id == config.node_id)
        .and_then(|i| stats[i].as_ref())
    else {
        return Vec::new();
    };
    let mut lost = Vec::new();
    for (input, input_config) in &config.inputs {
        let dora_core::descriptor::InputSource::Output(source) = &input_config.source else {
            continue;
        };
        let Some(sender) = ids
            .iter()
            .position(|id| *id == source.node)
            .and_then(|i| stats[i].as_ref())
        else {
            continue;
        };
        let output = match &source.operator {
            Some(operator) => format!("{operator}/{}", source.output),
            None => source.output.to_string(),
        };
        let sent = sender.sent_by_output.get(&output).copied().unwrap_or(0);
        let (read, dropped) = own
            .read_by_input
            .get(input.as_str())
            .copied()
            .unwrap_or((0, 0));
        if sent > read + dropped {
            lost.push((
                input.to_string(),
                source.node.to_string(),
                sent - read - dropped,
            ));
        }
    }
    lost
}

/// Whether a node that ended this way is started again under `policy`.
fn wants_restart(policy: RestartPolicy, ended: &Ended) -> bool {
    match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => ended.failed(),
        RestartPolicy::Always => true,
    }
}

impl Run<'_> {
    fn spawn(&mut self, index: usize) -> eyre::Result<()> {
        let node = &self.dataflow.nodes[index];
        let colour = PREFIX_COLOURS[index % PREFIX_COLOURS.len()];
        let style = anstyle::Style::new().fg_color(Some(colour.into()));
        let prefix = format!(
            "{style}{:>width$} |{style:#} ",
            node.id.as_str(),
            width = self.prefix_width
        );
        let files = NodeFiles::new(&self.run_dir, node.id.as_str());
        self.slots[index].process = Some(process::spawn(
            node,
            &self.configs[&node.id],
            &self.dir,
            &files,
            prefix,
        )?);
        Ok(())
    }

    /// A node that has exited during start-up, with the reason, if any.
    fn first_ended(&mut self) -> Option<StartError> {
        self.slots.iter_mut().find_map(|slot| {
            let status = slot.process.as_mut()?.child.try_wait().ok()??;
            Some(StartError::NodeEnded {
                node: slot.id.clone(),
                reason: format!("it exited with {status}; see its output above"),
            })
        })
    }

    /// Waits for every node to end: passes on `Stop` (Ctrl-C, SIGTERM or
    /// the time limit), restarts nodes as their policy says, closes the
    /// inputs of nodes whose sources ended for good, and kills what is
    /// still running when the grace period is over. Returns whether the
    /// run was stopped (rather than ending by itself).
    fn supervise(
        &mut self,
        channels: &RunChannels,
        stop: &AtomicBool,
        options: &RunOptions,
    ) -> bool {
        let started = Instant::now();
        let mut stopping_since: Option<Instant> = None;
        while self.slots.iter().any(|s| s.ended.is_none()) {
            let time_is_up = options
                .stop_after
                .is_some_and(|limit| started.elapsed() >= limit);
            if stopping_since.is_none() && (stop.load(Ordering::Relaxed) || time_is_up) {
                stopping_since = Some(Instant::now());
                for (index, slot) in self.slots.iter_mut().enumerate() {
                    if let Some(last) = slot.last_exit.take() {
                        // A restart was pending: the last exit is final.
                        slot.restart_at = None;
                        slot.ended = Some(last);
                    } else if slot.ended.is_none() {
                        if let Err(error) = channels.stop(index) {
                            process::say(&format!(
                                "cannot ask node `{}` to stop: {error}",
                                slot.id
                            ));
                        }
                    }
                }
            }
            for index in 0..self.slots.len() {
                self.check(index, channels, stop, stopping_since, options.grace);
            }
            std::thread::sleep(POLL);
        }
        stopping_since.is_some()
    }

    /// Looks at one node: has it ended, must it be killed or restarted.
    fn check(
        &mut self,
        index: usize,
        channels: &RunChannels,
        stop: &AtomicBool,
        stopping_since: Option<Instant>,
        grace: Duration,
    ) {
        if self.slots[index]
            .restart_at
            .is_some_and(|at| at <= Instant::now())
        {
            self.restart(index, channels, stop);
            return;
        }
        let slot = &mut self.slots[index];
        let Some(process) = &mut slot.process else {
            return;
        };
        let ended = match process.child.try_wait() {
            Ok(Some(status)) => Ended::Exited(status),
            Ok(None) => match stopping_since {
                Some(since) if since.elapsed() >= grace => {
                    process.kill();
                    Ended::Killed { grace }
                }
                _ => return,
            },
            Err(error) => Ended::Lost(error.to_string()),
        };
        process.join_printers();
        slot.process = None;
        if ended.failed() {
            channels.clean_up_dead_nodes();
        }
        let node = &self.dataflow.nodes[index];
        if stopping_since.is_none()
            && wants_restart(node.restart_policy, &ended)
            && slot.restarts < node.max_restarts
        {
            slot.restarts += 1;
            let delay = node.restart_delay_before(slot.restarts);
            process::say(&format!(
                "node `{}` {}; restarting it in {:.1}s (restart {} of {})",
                slot.id,
                ended.describe(),
                delay.as_secs_f64(),
                slot.restarts,
                node.max_restarts
            ));
            slot.last_exit = Some(ended);
            slot.restart_at = Some(Instant::now() + delay);
        } else {
            self.end(index, ended, channels);
        }
    }

    /// Starts a node again and runs the start-up barrier for it alone;
    /// Ctrl-C or SIGTERM during the barrier abandons the restart.
    fn restart(&mut self, index: usize, channels: &RunChannels, stop: &AtomicBool) {
        self.slots[index].restart_at = None;
        let last = self.slots[index].last_exit.take();
        let result = self.spawn(index).map_err(|e| e.to_string()).and_then(|()| {
            let slot = &mut self.slots[index];
            let id = slot.id.clone();
            channels
                .start(&[index], true, START_TIMEOUT, || {
                    if stop.load(Ordering::Relaxed) {
                        return Some(StartError::Stopped);
                    }
                    let status = slot.process.as_mut()?.child.try_wait().ok()??;
                    Some(StartError::NodeEnded {
                        node: id.clone(),
                        reason: format!("it exited with {status}"),
                    })
                })
                .map_err(|e| e.to_string())
        });
        if let Err(error) = result {
            process::say(&format!(
                "cannot restart node `{}`: {error}",
                self.slots[index].id
            ));
            if let Some(mut process) = self.slots[index].process.take() {
                process.kill();
                process.join_printers();
            }
            self.end(index, last.unwrap_or(Ended::Lost(error)), channels);
        }
    }

    /// Records that a node has ended for good and closes the inputs it fed.
    fn end(&mut self, index: usize, ended: Ended, channels: &RunChannels) {
        self.slots[index].ended = Some(ended);
        for &receiver in &self.slots[index].downstream {
            if self.slots[receiver].ended.is_none() {
                let _ = channels.close_inputs_from(receiver, index);
            }
        }
    }
}
