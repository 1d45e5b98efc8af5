//! `dora run`: one process that builds a dataflow, starts every node,
//! passes on their output, restarts nodes as their policy says, stops them
//! on Ctrl-C, SIGTERM or a time limit, and reports how each one ended.
//!
//! The launcher never carries messages: nodes talk to each other through
//! shared memory. It only starts them, runs the start-up barrier, tells
//! them to stop, and tells a node when an input's source has ended.

mod build;
mod output;
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
use dora_core::id::{DataId, NodeId};
use dora_core::protocol::START_TIMEOUT;
use dora_node_api::launch::{RunChannels, StartError};
use dora_node_api::transport::{claim_run, remove_abandoned_runs, remove_run_files};
use eyre::{bail, WrapErr};

use dora_node_api::stats::{kind, NodeStats};
use process::{NodeFiles, NodeProcess};
use summary::{Ended, Loss, LossCause, OperatorRow, Row};

/// The colours of the node ids in front of their output, in turn.
const PREFIX_COLOURS: [anstyle::AnsiColor; 6] = [
    anstyle::AnsiColor::Cyan,
    anstyle::AnsiColor::Magenta,
    anstyle::AnsiColor::Yellow,
    anstyle::AnsiColor::Green,
    anstyle::AnsiColor::Blue,
    anstyle::AnsiColor::Red,
];

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
    /// The inputs that read other nodes.
    edges: Vec<Edge>,
    /// Per input: the messages its senders sent that it did not read or
    /// drop, and that a loss below already accounts for.
    accounted: BTreeMap<String, u64>,
    losses: Vec<Loss>,
}

/// An input that reads another node's output.
struct Edge {
    input: String,
    sender: usize,
    /// The sender's name for the output (`operator/output` for an
    /// operator's).
    output: String,
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
    /// A node process has ended since the last clean-up of dead ones.
    clean_up_due: bool,
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

/// Files the launcher keeps open per node: its output pipes, its log, and
/// its channels' shared memory.
const FILES_PER_NODE: u64 = 12;

/// Raises this process's limit of open files as far as the system allows
/// (the usual 1,024 is too few for a few hundred nodes), and refuses a
/// dataflow too large for what it allows, before anything starts.
fn raise_open_files_limit(nodes: usize) -> eyre::Result<()> {
    let needed = 128 + FILES_PER_NODE * nodes as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a `rlimit` we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Ok(());
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads a valid `rlimit`.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
    let now = if ok { limit.rlim_max } else { limit.rlim_cur };
    if now < needed {
        bail!(
            "a dataflow of {nodes} nodes needs about {needed} open files in `dora run`, but this system allows {now}; raise the limit (`ulimit -n {needed}`, or the hard limit in /etc/security/limits.conf)"
        );
    }
    Ok(())
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
    process::check_python(&dataflow.nodes)?;

    raise_open_files_limit(dataflow.nodes.len())?;
    clean_up_abandoned_runs();
    let run_id = run_id();
    claim_run(&run_id).wrap_err("cannot create the run's folder under /dev/shm")?;
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
        clean_up_due: false,
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
    // What senders sent after a node's last process ended.
    for index in 0..run.slots.len() {
        let cause = match &run.slots[index].ended {
            _ if stopped => LossCause::UnreadAtStop,
            Some(ended) if ended.failed() => LossCause::AfterFailed,
            _ => LossCause::AfterEnded,
        };
        run.account(index, cause);
    }
    let rows: Vec<Row> = run
        .slots
        .iter()
        .map(|slot| Row {
            id: &slot.id,
            ended: slot.ended.as_ref(),
            restarts: slot.restarts,
            stats: run.stats(slot),
            losses: slot.losses.clone(),
            operators: operator_rows(&run.configs[&slot.id]),
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
            let edges = configs[id]
                .inputs
                .iter()
                .filter_map(|(input, config)| {
                    let dora_core::descriptor::InputSource::Output(source) = &config.source else {
                        return None;
                    };
                    Some(Edge {
                        input: input.to_string(),
                        sender: ids.iter().position(|n| *n == source.node)?,
                        output: DataId::qualified(source.operator.as_ref(), &source.output)
                            .to_string(),
                    })
                })
                .collect();
            Slot {
                id: id.clone(),
                process: None,
                ended: None,
                last_exit: None,
                restart_at: None,
                restarts: 0,
                downstream,
                edges,
                accounted: BTreeMap::new(),
                losses: Vec::new(),
            }
        })
        .collect()
}

/// The operators of a runtime node with the restarts each gets, for the
/// summary.
fn operator_rows(config: &NodeConfig) -> Vec<OperatorRow> {
    config
        .operators
        .iter()
        .map(|operator| OperatorRow {
            id: operator.id.to_string(),
            max_restarts: operator.max_restarts.unwrap_or(config.max_restarts),
        })
        .collect()
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
        self.slots[index].process = Some(self.start_process(index)?);
        Ok(())
    }

    fn start_process(&self, index: usize) -> eyre::Result<NodeProcess> {
        let node = &self.dataflow.nodes[index];
        let colour = PREFIX_COLOURS[index % PREFIX_COLOURS.len()];
        let style = anstyle::Style::new().fg_color(Some(colour.into()));
        let prefix = format!(
            "{style}{:>width$} |{style:#} ",
            node.id.as_str(),
            width = self.prefix_width
        );
        let files = NodeFiles::new(&self.run_dir, node.id.as_str());
        process::spawn(node, &self.configs[&node.id], &self.dir, &files, prefix)
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
            if std::mem::take(&mut self.clean_up_due) {
                channels.clean_up_dead_nodes();
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
        // A process that ended without closing its ports (a crash, or an
        // exit that skips destructors) leaves them behind: release them, so
        // that nobody waits for it and what is sent to it counts as
        // undelivered. It reads the state of every process of the run, so
        // after a successful exit, which closes its ports, it is done once
        // for all the processes that ended at about the same time.
        if ended.failed() {
            channels.clean_up_dead_nodes();
        } else {
            self.clean_up_due = true;
        }
        // What was sent to it and not read is now known: it was in its
        // queues.
        let cause = if stopping_since.is_some() {
            LossCause::UnreadAtStop
        } else if ended.failed() {
            LossCause::InQueueAtExit(ended.describe())
        } else {
            LossCause::AfterEnded
        };
        self.account(index, cause);
        let dataflow = self.dataflow;
        let node = &dataflow.nodes[index];
        let failed_operators = self.failed_operators(index, &ended);
        let slot = &mut self.slots[index];
        if !failed_operators.is_empty() {
            process::say(&format!(
                "node `{}` {}: {} failed for good after using {} restarts; the node is not restarted, since a new process would not bring back the operators' state",
                slot.id,
                ended.describe(),
                failed_operators.join(", "),
                if failed_operators.len() == 1 { "its" } else { "their" },
            ));
            self.end(index, ended, channels);
        } else if stopping_since.is_none()
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
        match result {
            Ok(()) => {
                self.account(index, LossCause::WhileRestarting);
                // Nodes that fed it and ended meanwhile told its earlier
                // process, which is gone: tell this one, so that its inputs
                // close once it has read what is queued for it.
                for upstream in 0..self.slots.len() {
                    if self.slots[upstream].ended.is_some()
                        && self.slots[upstream].downstream.contains(&index)
                    {
                        if let Err(error) = channels.close_inputs_from(index, upstream) {
                            process::say(&error.to_string());
                        }
                    }
                }
            }
            Err(error) => {
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
    }

    /// The counts node `slot` keeps (see `dora_node_api::stats`); they can
    /// be read while it runs.
    fn stats(&self, slot: &Slot) -> Option<NodeStats> {
        dora_node_api::stats::read(&NodeFiles::new(&self.run_dir, slot.id.as_str()).stats)
    }

    /// The operators of a runtime node whose process ended `ended` that
    /// failed for good: the runtime exited because of them, not because
    /// the process failed, so restarting the process would not help.
    fn failed_operators(&self, index: usize, ended: &Ended) -> Vec<String> {
        let exited_by_itself = matches!(ended, Ended::Exited(status) if status.code().is_some());
        if !exited_by_itself || !self.dataflow.nodes[index].is_runtime() {
            return Vec::new();
        }
        let Some(stats) = self.stats(&self.slots[index]) else {
            return Vec::new();
        };
        stats
            .of_kind(kind::OPERATOR_FAILED)
            .filter(|(_, failed)| *failed > 0)
            .map(|(operator, _)| format!("operator `{operator}`"))
            .collect()
    }

    /// Records, for each input of node `index` that reads another node,
    /// the messages its sender has sent so far that the node neither read
    /// nor dropped and that no earlier loss accounts for, as lost for
    /// `cause`. Counts are read from the nodes' files, also while they run.
    fn account(&mut self, index: usize, cause: LossCause) {
        let Some(own) = self.stats(&self.slots[index]) else {
            return;
        };
        let mut senders: BTreeMap<usize, Option<NodeStats>> = BTreeMap::new();
        let mut losses = Vec::new();
        for edge in &self.slots[index].edges {
            let sender = senders
                .entry(edge.sender)
                .or_insert_with(|| self.stats(&self.slots[edge.sender]));
            let Some(sender) = sender else {
                continue;
            };
            let sent = sender.get(kind::SENT, &edge.output);
            let read = own.get(kind::RECEIVED, &edge.input) + own.get(kind::DROPPED, &edge.input);
            let accounted = self.slots[index]
                .accounted
                .get(&edge.input)
                .copied()
                .unwrap_or(0);
            let missing = sent.saturating_sub(read + accounted);
            if missing > 0 {
                losses.push(Loss {
                    input: edge.input.clone(),
                    sender: self.slots[edge.sender].id.to_string(),
                    count: missing,
                    cause: cause.clone(),
                });
            }
        }
        // A runtime that crashed loses what it had taken for its operators,
        // which its node counted as received.
        if let LossCause::InQueueAtExit(how) = &cause {
            for (input, held) in own.of_kind(kind::OPERATOR_IN_RUNTIME) {
                if held == 0 {
                    continue;
                }
                let edge = self.slots[index].edges.iter().find(|e| e.input == input);
                losses.push(Loss {
                    input: input.to_owned(),
                    sender: edge.map_or_else(
                        || "another node".to_owned(),
                        |e| self.slots[e.sender].id.to_string(),
                    ),
                    count: held,
                    cause: LossCause::InRuntimeAtExit(how.clone()),
                });
            }
        }
        let slot = &mut self.slots[index];
        for loss in losses {
            if !matches!(loss.cause, LossCause::InRuntimeAtExit(_)) {
                *slot.accounted.entry(loss.input.clone()).or_default() += loss.count;
            }
            match slot
                .losses
                .iter_mut()
                .find(|l| l.input == loss.input && l.sender == loss.sender && l.cause == loss.cause)
            {
                Some(earlier) => earlier.count += loss.count,
                None => slot.losses.push(loss),
            }
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
