//! `dora run`: one process that builds a dataflow, starts every node,
//! passes on their output, restarts nodes as their policy says, stops them
//! on Ctrl-C, SIGTERM or a time limit, and reports how each one ended.
//!
//! The launcher never carries messages: nodes talk to each other through
//! shared memory. It only starts them, runs the start-up barrier, tells
//! them to stop, and tells a node when an input's source has ended.
//!
//! What to do when a process ends, when `Stop` comes and as time passes is
//! decided by the [`Supervisor`](supervisor::Supervisor), which does no
//! I/O; this module drives it with real processes and the terminal, as a
//! machine's daemon will drive it with the processes it runs for a
//! cluster, its [`Out`] going to the coordinator instead of the terminal.

mod build;
mod git;
mod logs;
mod out;
mod output;
mod process;
mod relay;
mod summary;
mod supervisor;

pub use out::Out;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dora_core::check::{check_file, Content};
use dora_core::config::{NodeConfig, TlsFiles};
use dora_core::descriptor::Dataflow;
use dora_core::id::{DataId, NodeId};
use dora_core::protocol::cluster::{DataflowReport, EdgeCounts, EndedElsewhere, ReadCount};
use dora_core::protocol::START_TIMEOUT;
use dora_core::relay::RELAY_NODE;
use dora_node_api::launch::{RunChannels, StartError};
use dora_node_api::transport::{claim_run, remove_abandoned_runs, remove_run_files};
use eyre::{bail, WrapErr};

use dora_node_api::stats::{kind, monotonic_ms, Liveness, NodeStats};
use process::{NodeFiles, NodeProcess};
use summary::{Ended, Loss, LossCause, OperatorRow, Row};
use supervisor::{Action, Supervisor};

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

/// How often the launcher looks at the liveness of nodes with a
/// `health_check_timeout`.
const HEALTH_CHECK_EVERY: Duration = Duration::from_millis(100);

/// How a run is stopped.
pub struct RunOptions {
    /// How long nodes have to end after `Stop` before they are killed.
    pub grace: Duration,
    /// Stop the dataflow after this long.
    pub stop_after: Option<Duration>,
    /// When set (in milliseconds) by whoever asks the run to stop, before
    /// asking, the grace that stop gives instead of `grace`.
    pub grace_at_stop: Option<Arc<AtomicU64>>,
}

/// A machine's part of a run spread over several machines (see
/// [`dora_core::spread`]): it starts and supervises only the nodes placed
/// on it, and learns from `ended_elsewhere` which nodes of other machines
/// have ended for good, to close the inputs they fed here.
pub struct Part {
    /// The run's id, the same on every machine.
    pub run: String,
    /// This machine.
    pub machine: String,
    /// Per node: the machine that runs it.
    pub machine_of: BTreeMap<NodeId, String>,
    /// Per node of this machine that reads from another: its endpoints.
    pub listen: BTreeMap<NodeId, Vec<String>>,
    /// The machine's certificate, for links between nodes; plain TCP
    /// without.
    pub tls: Option<TlsFiles>,
    pub ended_elsewhere: std::sync::mpsc::Receiver<EndedElsewhere>,
}

/// How a run ended.
pub struct Outcome {
    /// A node failed, or messages were lost.
    pub failed: bool,
    /// The summary table, with bold headings.
    pub summary: String,
    /// For a part of a spread run: what its nodes counted on edges to
    /// other machines, which only the coordinator can account.
    pub edges: Option<EdgeCounts>,
}

/// One node of the run: its process and what is known of its messages.
/// How it ended, and its restarts, the [`Supervisor`] keeps.
struct Slot {
    id: NodeId,
    process: Option<NodeProcess>,
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
    /// Per node: the folder it starts in and its path is relative to.
    folders: Vec<PathBuf>,
    run_dir: PathBuf,
    run_id: String,
    slots: Vec<Slot>,
    prefix_width: usize,
    out: &'a Out,
    /// Per node: whether its end for good has been reported.
    end_reported: Vec<bool>,
    /// Per node: when its process was started, on the monotonic clock its
    /// liveness is recorded on (ms).
    started_ms: Vec<u64>,
    /// When the watched nodes' liveness was last looked at.
    health_checked: Instant,
    /// A node process has ended since the last clean-up of dead ones.
    clean_up_due: bool,
    /// The log relay, when the dataflow sends what nodes print or log as
    /// data. Dropped before the run's shared memory is removed.
    relay: Option<relay::Relay>,
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
        // The relay leaves the run while its shared memory still exists.
        self.relay = None;
        // A node that was killed leaves its container behind.
        #[cfg(feature = "cluster")]
        if self
            .dataflow
            .nodes
            .iter()
            .any(|n| n.driver == dora_core::descriptor::Driver::Docker)
        {
            crate::driver::node::remove_run(&self.run_id);
        }
        let _ = remove_run_files(&self.run_id);
    }
}

/// A `dora run` killed with SIGKILL takes its nodes with it (they ask the
/// kernel for that) but leaves its files behind; the next run removes them.
fn clean_up_abandoned_runs(out: &Out) {
    match remove_abandoned_runs() {
        Ok(ids) if !ids.is_empty() => out.say(&format!(
            "removed the shared memory of {} earlier run(s) whose `dora run` was killed: {}",
            ids.len(),
            ids.join(", ")
        )),
        Ok(_) => {}
        Err(error) => out.say(&format!(
            "warning: cannot remove the files of earlier runs: {error}"
        )),
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

/// `dora run FILE`: checks the dataflow, builds it, runs it with the
/// terminal as its [`Out`] until it ends or is stopped (Ctrl-C, SIGTERM, the
/// time limit), and prints the summary.
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
        Content::Module(_) => bail!(
            "{} is a module file; run a dataflow that uses it with `module:`",
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
    let out = Out::Terminal;
    let folders = git::node_folders(&dataflow, &dir, &out)?;
    build::run_builds(&dataflow, &folders, &stop, &out)?;
    let outcome = execute(&dataflow, &dir, &folders, options, None, &stop, &out)?;
    let _ = anstream::stderr().write_all(outcome.summary.as_bytes());
    Ok(if outcome.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Checks the text of a dataflow whose folder is `dir` as `dora run`
/// would, for a machine that runs it for a cluster; the errors rendered
/// when it is not valid.
#[cfg(feature = "cluster")]
pub fn check_for_machine(source: &str, file: &Path, dir: &Path) -> Result<Dataflow, String> {
    let (content, diagnostics) = dora_core::check::check_source(source, Some(dir));
    let mut checked = dora_core::check::CheckedFile {
        path: file.to_owned(),
        source: source.to_owned(),
        content,
        diagnostics,
    };
    let cores = process::allowed_cores().map_err(|e| format!("{e:#}"))?;
    checked.check_local_run(&cores);
    match checked.content {
        Content::Dataflow(dataflow) if checked.is_valid() => Ok(dataflow),
        _ => Err(anstream::adapter::strip_str(&checked.render(false)).to_string()),
    }
}

/// Gets the programs of `dataflow`'s nodes that come from git, and runs
/// its builds, as `dora run` does; the folder of each node.
#[cfg(feature = "cluster")]
pub fn build(
    dataflow: &Dataflow,
    dir: &Path,
    stop: &AtomicBool,
    out: &Out,
) -> eyre::Result<Vec<PathBuf>> {
    let folders = git::node_folders(dataflow, dir, out)?;
    build::run_builds(dataflow, &folders, stop, out)?;
    Ok(folders)
}

/// Runs a checked and built dataflow from its folder `dir`, each node
/// from its folder in `folders`: starts every node (of this machine, for
/// a `part`), runs the start-up barrier, supervises them until every one
/// has ended or `stop` is set, and returns how the run went.
pub fn execute(
    dataflow: &Dataflow,
    dir: &Path,
    folders: &[PathBuf],
    options: &RunOptions,
    part: Option<Part>,
    stop: &AtomicBool,
    out: &Out,
) -> eyre::Result<Outcome> {
    let ids: Vec<NodeId> = dataflow.nodes.iter().map(|n| n.id.clone()).collect();
    let here: Vec<bool> = ids
        .iter()
        .map(|id| {
            part.as_ref()
                .is_none_or(|p| p.machine_of.get(id) == Some(&p.machine))
        })
        .collect();
    let local: Vec<usize> = (0..ids.len()).filter(|&i| here[i]).collect();
    let local_nodes: Vec<_> = local.iter().map(|&i| dataflow.nodes[i].clone()).collect();
    process::check_python(&local_nodes)?;
    raise_open_files_limit(local.len())?;
    clean_up_abandoned_runs(out);
    let (run_id, mut configs) = match &part {
        None => {
            let run_id = run_id();
            let configs = NodeConfig::for_dataflow(dataflow, &run_id);
            (run_id, configs)
        }
        Some(part) => {
            let spread = dora_core::spread::over_machines(
                NodeConfig::for_dataflow(dataflow, &part.run),
                &part.machine_of,
                &|node| part.listen.get(node).cloned().unwrap_or_default(),
            )?;
            // Every node's configuration, for the edges; only this
            // machine's are started.
            let mut configs = BTreeMap::new();
            for (machine, mut nodes) in spread {
                if machine == part.machine {
                    for config in nodes.values_mut() {
                        if let Some(remote) = &mut config.remote {
                            remote.tls = part.tls.clone();
                        }
                    }
                }
                configs.extend(nodes);
            }
            (
                dora_core::spread::local_run_id(&part.run, &part.machine),
                configs,
            )
        }
    };
    claim_run(&run_id).wrap_err("cannot create the run's folder under /dev/shm")?;
    let run_dir = dir.join("out").join(&run_id);
    std::fs::create_dir_all(&run_dir)
        .wrap_err_with(|| format!("cannot create the run folder {}", run_dir.display()))?;

    // Every node of the start-up barrier: the dataflow's, and the relay
    // last when there is one.
    let members = ids
        .first()
        .and_then(|id| configs.get(id))
        .map_or_else(|| ids.clone(), |c| c.nodes.clone());
    let relay = configs
        .remove(RELAY_NODE)
        .map(|config| relay::Relay::start(config, &configs));
    let slots = slots(&ids, &configs);
    let mut run = Run {
        dataflow,
        configs,
        folders: folders.to_vec(),
        run_dir,
        run_id: run_id.clone(),
        slots,
        prefix_width: ids.iter().map(|id| id.as_str().len()).max().unwrap_or(0),
        out,
        end_reported: vec![false; ids.len()],
        started_ms: vec![0; ids.len()],
        health_checked: Instant::now(),
        clean_up_due: false,
        relay,
    };
    // Nodes of other machines are reported by their own daemons.
    for (reported, here) in run.end_reported.iter_mut().zip(&here) {
        *reported = !here;
    }
    let channels = RunChannels::open(&run_id, &members)?;
    for &index in &local {
        run.spawn(index)?;
    }
    // The relay, when there is one, is the member after the nodes.
    let starting: Vec<usize> = local
        .iter()
        .copied()
        .chain(ids.len()..members.len())
        .collect();
    channels.start(&starting, false, START_TIMEOUT, || {
        if stop.load(Ordering::Relaxed) {
            return Some(StartError::Stopped);
        }
        if let Some(reason) = run.relay.as_ref().and_then(relay::Relay::failed) {
            return Some(StartError::NodeEnded {
                node: RELAY_NODE.into(),
                reason: format!("the log relay could not join the run: {reason}"),
            });
        }
        run.first_ended()
    })?;
    out.report(DataflowReport::Running {
        nodes: local.len() as u32,
    });

    let mut supervisor = Supervisor::new(dataflow, downstream(&ids, &run.configs), options.grace);
    supervisor.run_elsewhere((0..ids.len()).filter(|&i| !here[i]));
    let ended_elsewhere = part.map(|p| p.ended_elsewhere);
    run.supervise(
        &mut supervisor,
        &channels,
        stop,
        options,
        ended_elsewhere.as_ref(),
    );
    let stopped = supervisor.stopped();
    // What senders sent after a node's last process ended.
    for index in local.iter().copied() {
        let cause = match supervisor.ended(index) {
            _ if stopped => LossCause::UnreadAtStop,
            Some(ended) if ended.failed() => LossCause::AfterFailed,
            _ => LossCause::AfterEnded,
        };
        run.account(index, cause);
    }
    let relayed = run
        .relay
        .as_ref()
        .map(relay::Relay::sent)
        .unwrap_or_default();
    let rows: Vec<Row> = run
        .slots
        .iter()
        .enumerate()
        .filter(|(index, _)| here[*index])
        .map(|(index, slot)| Row {
            id: &slot.id,
            ended: supervisor.ended(index),
            restarts: supervisor.restarts(index),
            stats: run.stats(slot),
            losses: slot.losses.clone(),
            operators: operator_rows(&run.configs[&slot.id]),
            relayed: relayed.get(slot.id.as_str()).copied().unwrap_or(0),
        })
        .collect();
    let (summary, failed) = summary::render(&rows, &run.run_dir);
    let edges = ended_elsewhere.map(|_| run.edge_counts(&here));
    Ok(Outcome {
        failed,
        summary,
        edges,
    })
}

fn slots(ids: &[NodeId], configs: &BTreeMap<NodeId, NodeConfig>) -> Vec<Slot> {
    ids.iter()
        .map(|id| {
            let edges = configs[id]
                .inputs
                .iter()
                .filter_map(|(input, config)| {
                    let dora_core::descriptor::InputSource::Output(source) = &config.source else {
                        return None;
                    };
                    let output = DataId::qualified(source.operator.as_ref(), &source.output);
                    // What the relay sends for a node is not counted as the
                    // node's.
                    configs.get(&source.node)?.outputs.get(&output)?;
                    Some(Edge {
                        input: input.to_string(),
                        sender: ids.iter().position(|n| *n == source.node)?,
                        output: output.to_string(),
                    })
                })
                .collect();
            Slot {
                id: id.clone(),
                process: None,
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

/// Per node: the nodes that read its outputs, by index; also those that
/// read what it prints or logs through the relay.
fn downstream(ids: &[NodeId], configs: &BTreeMap<NodeId, NodeConfig>) -> Vec<BTreeSet<usize>> {
    let mut downstream = vec![BTreeSet::new(); ids.len()];
    for (reader, id) in ids.iter().enumerate() {
        for input in configs[id].inputs.values() {
            let dora_core::descriptor::InputSource::Output(source) = &input.source else {
                continue;
            };
            if let Some(sender) = ids.iter().position(|n| *n == source.node) {
                downstream[sender].insert(reader);
            }
        }
    }
    downstream
}

impl Run<'_> {
    fn spawn(&mut self, index: usize) -> eyre::Result<()> {
        self.started_ms[index] = monotonic_ms();
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
        process::spawn(
            node,
            &self.configs[&node.id],
            &self.folders[index],
            &files,
            prefix,
            self.out,
            self.relay.as_ref().and_then(|r| r.line_for(&node.id)),
        )
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

    /// Drives `supervisor` until every node has ended: passes on `Stop`
    /// (Ctrl-C, SIGTERM or the time limit), reports each process that
    /// ends, and carries out what the supervisor decides (restarts,
    /// closing inputs, kills after the grace period).
    fn supervise(
        &mut self,
        supervisor: &mut Supervisor,
        channels: &RunChannels,
        stop: &AtomicBool,
        options: &RunOptions,
        ended_elsewhere: Option<&std::sync::mpsc::Receiver<EndedElsewhere>>,
    ) {
        let started = Instant::now();
        while !supervisor.is_done() {
            for said in ended_elsewhere.into_iter().flat_map(|r| r.try_iter()) {
                let Some(index) = self.slots.iter().position(|s| s.id.as_str() == said.node) else {
                    continue;
                };
                let ended = Ended::Elsewhere {
                    failed: said.failed,
                    status: format!("{} (on machine `{}`)", said.status, said.machine),
                };
                let actions = supervisor.ended_elsewhere(index, ended);
                self.carry_out(actions, supervisor, channels, stop);
            }
            let time_is_up = options
                .stop_after
                .is_some_and(|limit| started.elapsed() >= limit);
            if stop.load(Ordering::Relaxed) || time_is_up {
                if let Some(grace) = &options.grace_at_stop {
                    let ms = grace.load(Ordering::Relaxed);
                    if ms > 0 {
                        supervisor.set_grace(Duration::from_millis(ms));
                    }
                }
                let actions = supervisor.stop(Instant::now());
                self.carry_out(actions, supervisor, channels, stop);
            }
            for index in 0..self.slots.len() {
                if let Some(ended) = self.exit_of(index, channels) {
                    let failed_operators = self.failed_operators(index, &ended);
                    let actions = supervisor.exited(index, ended, failed_operators, Instant::now());
                    self.carry_out(actions, supervisor, channels, stop);
                }
            }
            let actions = supervisor.tick(Instant::now());
            self.carry_out(actions, supervisor, channels, stop);
            if self.health_checked.elapsed() >= HEALTH_CHECK_EVERY {
                self.health_checked = Instant::now();
                for index in self.unresponsive(supervisor) {
                    let Some(mut process) = self.slots[index].process.take() else {
                        continue;
                    };
                    process.kill();
                    let timeout = self.dataflow.nodes[index]
                        .health_check_timeout
                        .map_or(Duration::ZERO, dora_core::Duration::as_std);
                    let ended =
                        self.ended_process(process, Ended::Unresponsive { timeout }, channels);
                    let actions = supervisor.exited(index, ended, Vec::new(), Instant::now());
                    self.carry_out(actions, supervisor, channels, stop);
                }
            }
            if std::mem::take(&mut self.clean_up_due) {
                channels.clean_up_dead_nodes();
            }
            self.report_ends(supervisor);
            std::thread::sleep(POLL);
        }
    }

    /// Does what the supervisor decided, and what that leads to, in order;
    /// shows its events.
    fn carry_out(
        &mut self,
        actions: Vec<Action>,
        supervisor: &mut Supervisor,
        channels: &RunChannels,
        stop: &AtomicBool,
    ) {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Stop(index) => {
                    if let Err(error) = channels.stop(index) {
                        self.out.say(&format!(
                            "cannot ask node `{}` to stop: {error}",
                            self.slots[index].id
                        ));
                    }
                }
                Action::Kill(index) => {
                    let Some(mut process) = self.slots[index].process.take() else {
                        continue;
                    };
                    process.kill();
                    let killed = Ended::Killed {
                        grace: supervisor.grace(),
                    };
                    let ended = self.ended_process(process, killed, channels);
                    queue.extend(supervisor.exited(index, ended, Vec::new(), Instant::now()));
                }
                Action::Restart(index) => match self.restart(index, channels, stop) {
                    Ok(()) => queue.extend(supervisor.rejoined(index)),
                    Err(error) => {
                        if let Some(mut process) = self.slots[index].process.take() {
                            process.kill();
                            process.join_printers();
                        }
                        queue.extend(supervisor.restart_failed(index, error));
                    }
                },
                // A receiver that is restarting is told again when it
                // rejoins (see `Supervisor::rejoined`).
                Action::CloseInputs { receiver, ended } => {
                    let _ = channels.close_inputs_from(receiver, ended);
                }
                Action::Account { node, cause } => self.account(node, cause),
            }
        }
        for event in supervisor.take_events() {
            self.out.event(&event);
        }
    }

    /// The running nodes with a `health_check_timeout` that have taken no
    /// event for longer while not waiting for one, since their process
    /// connected. Not while the run stops: the grace period rules then.
    fn unresponsive(&self, supervisor: &Supervisor) -> Vec<usize> {
        if supervisor.stopped() {
            return Vec::new();
        }
        let now = monotonic_ms();
        (0..self.slots.len())
            .filter(|&index| {
                let Some(timeout) = self.dataflow.nodes[index].health_check_timeout else {
                    return false;
                };
                if self.slots[index].process.is_none() {
                    return false;
                }
                let value = self
                    .stats(&self.slots[index])
                    .map_or(0, |s| s.get(kind::LIVENESS, ""));
                match Liveness::decode(value) {
                    // Recorded by this process (not an earlier one), which
                    // is not waiting for an event.
                    Some((at, false)) if at >= self.started_ms[index] => {
                        now.saturating_sub(at) > timeout.as_std().as_millis() as u64
                    }
                    _ => false,
                }
            })
            .collect()
    }

    /// Reports each node that has ended for good since the last call.
    fn report_ends(&mut self, supervisor: &Supervisor) {
        for (index, reported) in self.end_reported.iter_mut().enumerate() {
            let Some(ended) = supervisor.ended(index).filter(|_| !*reported) else {
                continue;
            };
            *reported = true;
            self.out.report(DataflowReport::NodeEnded {
                node: self.slots[index].id.to_string(),
                failed: ended.failed(),
                status: ended.describe(),
            });
        }
    }

    /// How node `index`'s process ended, once it has.
    fn exit_of(&mut self, index: usize, channels: &RunChannels) -> Option<Ended> {
        let process = self.slots[index].process.as_mut()?;
        let ended = match process.child.try_wait() {
            Ok(Some(status)) => Ended::Exited(status),
            Ok(None) => return None,
            Err(error) => Ended::Lost(error.to_string()),
        };
        let process = self.slots[index].process.take()?;
        Some(self.ended_process(process, ended, channels))
    }

    /// Finishes with a process that ended `ended`: its output is passed on
    /// to the end, and the ports it left behind are released.
    fn ended_process(
        &mut self,
        mut process: NodeProcess,
        ended: Ended,
        channels: &RunChannels,
    ) -> Ended {
        process.join_printers();
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
        // Its readers get what it printed before they learn it ended.
        if let Some(relay) = &self.relay {
            relay.flush();
        }
        ended
    }

    /// Starts node `index` again and runs the start-up barrier for it
    /// alone; Ctrl-C or SIGTERM during the barrier abandons the restart.
    fn restart(
        &mut self,
        index: usize,
        channels: &RunChannels,
        stop: &AtomicBool,
    ) -> Result<(), String> {
        self.spawn(index).map_err(|e| e.to_string())?;
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
    }

    /// What the nodes of this machine (`here`) counted on their edges to
    /// nodes of other machines.
    fn edge_counts(&self, here: &[bool]) -> EdgeCounts {
        let mut counts = EdgeCounts::default();
        for (index, slot) in self.slots.iter().enumerate() {
            if !here[index] {
                continue;
            }
            let stats = self.stats(slot);
            for edge in slot.edges.iter().filter(|e| !here[e.sender]) {
                let read = stats.as_ref().map_or(0, |s| {
                    s.get(kind::RECEIVED, &edge.input)
                        + s.get(kind::DROPPED, &edge.input)
                        + s.get(kind::TYPE_MISMATCHES, &edge.input)
                });
                counts.read.insert(
                    format!("{}/{}", slot.id, edge.input),
                    ReadCount {
                        from: format!("{}/{}", self.slots[edge.sender].id, edge.output),
                        read,
                    },
                );
            }
            // What it sent to readers of other machines.
            for reader in (0..self.slots.len()).filter(|&r| !here[r]) {
                for edge in self.slots[reader]
                    .edges
                    .iter()
                    .filter(|e| e.sender == index)
                {
                    let sent = stats
                        .as_ref()
                        .map_or(0, |s| s.get(kind::SENT, &edge.output));
                    counts
                        .sent
                        .insert(format!("{}/{}", slot.id, edge.output), sent);
                }
            }
        }
        counts
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
            // Refused for their type: counted on their own, not lost here.
            let read = own.get(kind::RECEIVED, &edge.input)
                + own.get(kind::DROPPED, &edge.input)
                + own.get(kind::TYPE_MISMATCHES, &edge.input);
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
}
