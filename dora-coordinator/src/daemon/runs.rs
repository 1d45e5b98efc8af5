//! The commands a machine's daemon carries out, and the dataflows it runs
//! for the cluster. Each runs on a thread of
//! its own through the same supervisor as `dora run`, with its output
//! going to the coordinator as reports instead of to a terminal.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use dora_core::config::TlsFiles;
use dora_core::descriptor::Dataflow;
use dora_core::id::NodeId;
use dora_core::protocol::cluster::{
    self, Command, CommandAnswer, DataflowReport, EndedElsewhere, Inventory, NumberedReport,
};
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::run::{self, Out, RunOptions};

/// How many reports may wait to be sent before nodes wait on their output.
const REPORT_BACKLOG: usize = 4096;

/// How many ended dataflows' last reports a daemon keeps, for a
/// coordinator that was away when they ended.
const KEEP_ENDED: usize = 1000;

/// How long nodes have after `Stop` when the request names no grace.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// One dataflow this machine runs.
struct Running {
    stop: Arc<AtomicBool>,
    grace_ms: Arc<AtomicU64>,
}

#[derive(Default)]
struct State {
    running: BTreeMap<String, Running>,
    /// The last report of each dataflow that has ended, oldest first.
    ended: VecDeque<(String, NumberedReport)>,
}

/// The machine's dataflows, and where their reports go.
pub struct Runs {
    session: zenoh::Session,
    zone: String,
    machine: String,
    /// What the machine has, as collected when the daemon started.
    inventory: Inventory,
    /// The machine's certificate, for links between nodes of machines;
    /// `None` in a cluster without TLS.
    tls: Option<TlsFiles>,
    state: Mutex<State>,
}

/// How a dataflow is spread over machines, as the coordinator placed it.
struct Spread {
    machines: BTreeMap<String, String>,
    listen: BTreeMap<String, Vec<String>>,
}

impl Runs {
    pub fn new(
        session: zenoh::Session,
        zone: &str,
        machine: &str,
        inventory: Inventory,
        tls: Option<TlsFiles>,
    ) -> Arc<Runs> {
        Arc::new(Runs {
            session,
            zone: zone.to_owned(),
            machine: machine.to_owned(),
            inventory,
            tls,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Carries out `command`.
    pub fn handle(self: &Arc<Self>, command: Command) -> CommandAnswer {
        match command {
            Command::Start {
                dataflow,
                name,
                source,
                file,
                folder,
                machines,
                listen,
            } => {
                let spread = Spread { machines, listen };
                self.start(dataflow, name, source, file, folder, spread)
            }
            Command::Stop { dataflow, grace_ms } => {
                let state = self.state();
                match state.running.get(&dataflow) {
                    Some(running) => {
                        running.grace_ms.store(grace_ms, Ordering::Relaxed);
                        running.stop.store(true, Ordering::Relaxed);
                        CommandAnswer::Done
                    }
                    None => CommandAnswer::Refused {
                        reason: format!(
                            "dataflow {dataflow} does not run on machine `{}`",
                            self.machine
                        ),
                    },
                }
            }
            Command::Inventory => CommandAnswer::Inventory {
                inventory: self.inventory.clone(),
            },
            Command::RunContainer { .. }
            | Command::DeleteContainer { .. }
            | Command::Containers
            | Command::ContainerLogs { .. }
            | Command::EndOutput { .. }
            | Command::Exec { .. } => CommandAnswer::Refused {
                reason: "containers are not dataflows".to_owned(),
            },
            Command::List => {
                let state = self.state();
                CommandAnswer::Running {
                    dataflows: state.running.keys().cloned().collect(),
                    ended: state.ended.iter().cloned().collect(),
                }
            }
        }
    }

    fn start(
        self: &Arc<Self>,
        dataflow: String,
        name: String,
        source: String,
        file: String,
        folder: String,
        spread: Spread,
    ) -> CommandAnswer {
        let mut state = self.state();
        if state.running.contains_key(&dataflow) {
            return CommandAnswer::Refused {
                reason: format!("dataflow {dataflow} already runs here"),
            };
        }
        let stop = Arc::new(AtomicBool::new(false));
        let grace_ms = Arc::new(AtomicU64::new(0));
        let (reports, queue) = mpsc::sync_channel(REPORT_BACKLOG);
        // A run spread over machines hears which nodes of the others have
        // ended (before any node starts, so that no end is missed), and
        // tells them of its own.
        let part = match self.part(&dataflow, spread) {
            Ok(part) => part,
            Err(reason) => return CommandAnswer::Refused { reason },
        };
        let ended_key = part
            .as_ref()
            .map(|_| (self.zone.clone(), dataflow.clone(), self.machine.clone()));
        let key = cluster::report_key(&self.zone, &self.machine, &dataflow);
        let forward = {
            let session = self.session.clone();
            move || forward(&session, &key, ended_key, queue)
        };
        let run = {
            let (runs, id, stop, grace_ms) = (
                self.clone(),
                dataflow.clone(),
                stop.clone(),
                grace_ms.clone(),
            );
            move || {
                let out = Out::forward(reports);
                let last = run_one(&source, &file, &folder, &stop, grace_ms, part, &out);
                let last = out.report(last);
                let mut state = runs.state();
                state.running.remove(&id);
                if let Some(last) = last {
                    state.ended.push_back((id, last));
                }
                if state.ended.len() > KEEP_ENDED {
                    state.ended.pop_front();
                }
            }
        };
        let spawned = std::thread::Builder::new()
            .name(format!("dora-report-{name}"))
            .spawn(forward)
            .and_then(|_| {
                std::thread::Builder::new()
                    .name(format!("dora-run-{name}"))
                    .spawn(run)
            });
        if let Err(error) = spawned {
            return CommandAnswer::Refused {
                reason: format!("cannot start a thread for the dataflow: {error}"),
            };
        }
        state.running.insert(dataflow, Running { stop, grace_ms });
        CommandAnswer::Done
    }

    /// This machine's part of run `dataflow` when it is spread over
    /// several machines, listening for the ends of the others' nodes;
    /// `None` when this machine runs every node.
    fn part(
        &self,
        dataflow: &str,
        spread: Spread,
    ) -> Result<Option<(run::Part, zenoh::pubsub::Subscriber<()>)>, String> {
        let machines: std::collections::BTreeSet<&String> = spread.machines.values().collect();
        if machines.len() < 2 {
            return Ok(None);
        }
        let (tell, ended_elsewhere) = mpsc::channel();
        let subscriber = self
            .session
            .declare_subscriber(cluster::ended_all(&self.zone, dataflow))
            .callback(move |sample| {
                match serde_json::from_slice::<EndedElsewhere>(&sample.payload().to_bytes()) {
                    // The run may have ended already; then nobody listens.
                    Ok(said) => drop(tell.send(said)),
                    Err(error) => eprintln!(
                        "warning: a node's end from another machine this daemon does not understand ({error}); run the same dora version on every machine"
                    ),
                }
            })
            .wait()
            .map_err(|e| format!("cannot hear the other machines of the run: {e}"))?;
        let part = run::Part {
            run: dataflow.to_owned(),
            machine: self.machine.clone(),
            machine_of: by_node_id(spread.machines),
            listen: by_node_id(spread.listen),
            tls: self.tls.clone(),
            ended_elsewhere,
        };
        Ok(Some((part, subscriber)))
    }

    /// Asks every dataflow to stop, and waits up to `patience` for them to
    /// end (their last reports sent).
    pub fn stop_all(&self, patience: Duration) {
        for running in self.state().running.values() {
            running.stop.store(true, Ordering::Relaxed);
        }
        let deadline = std::time::Instant::now() + patience;
        while !self.state().running.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `dataflow` as this machine's part of a spread run builds it: the
/// nodes of other machines are fetched (`git`) and built there, not here.
fn built_here(mut dataflow: Dataflow, part: &run::Part) -> Dataflow {
    for node in &mut dataflow.nodes {
        if part.machine_of.get(&node.id) != Some(&part.machine) {
            node.git = None;
            node.build = None;
            for operator in &mut node.operators {
                operator.build = None;
            }
        }
    }
    dataflow
}

/// `map` keyed by node ids.
fn by_node_id<V>(map: BTreeMap<String, V>) -> BTreeMap<NodeId, V> {
    map.into_iter().map(|(k, v)| (NodeId::from(k), v)).collect()
}

/// Checks, builds and runs one dataflow; its last report.
fn run_one(
    source: &str,
    file: &str,
    folder: &str,
    stop: &AtomicBool,
    grace_ms: Arc<AtomicU64>,
    part: Option<(run::Part, zenoh::pubsub::Subscriber<()>)>,
    out: &Out,
) -> DataflowReport {
    // The subscriber feeding the part lives as long as the run.
    let (part, _listening) = part.unzip();
    let dir = PathBuf::from(folder);
    if !dir.is_dir() {
        return DataflowReport::Failed {
            error: format!(
                "the dataflow's folder {folder} is not on this machine; every machine that runs its nodes needs it at the same path"
            ),
        };
    }
    let dataflow = match run::check_for_machine(source, file.as_ref(), &dir) {
        Ok(dataflow) => dataflow,
        Err(errors) => return DataflowReport::Failed { error: errors },
    };
    let dataflow = match &part {
        Some(part) => built_here(dataflow, part),
        None => dataflow,
    };
    let folders = match run::build(&dataflow, &dir, stop, out) {
        Ok(folders) => folders,
        Err(error) => {
            return DataflowReport::Failed {
                error: format!("{error:#}"),
            }
        }
    };
    let options = RunOptions {
        grace: DEFAULT_GRACE,
        stop_after: None,
        grace_at_stop: Some(grace_ms),
    };
    match run::execute(&dataflow, &dir, &folders, &options, part, stop, out) {
        Ok(outcome) => DataflowReport::Ended {
            failed: outcome.failed,
            summary: anstream::adapter::strip_str(&outcome.summary).to_string(),
            edges: outcome.edges,
        },
        Err(error) => DataflowReport::Failed {
            error: format!("{error:#}"),
        },
    }
}

/// Sends a dataflow's reports to the coordinator, in order, until every
/// sender is gone. Puts wait when the link is congested rather than drop.
/// For a run spread over machines (`ended`: zone, run, this machine), the
/// end of each node is also told to the other machines.
fn forward(
    session: &zenoh::Session,
    key: &str,
    ended: Option<(String, String, String)>,
    queue: mpsc::Receiver<NumberedReport>,
) {
    let mut said = false;
    for report in queue {
        if let (
            Some((zone, run, machine)),
            DataflowReport::NodeEnded {
                node,
                failed,
                status,
            },
        ) = (&ended, &report.report)
        {
            let said = EndedElsewhere {
                node: node.clone(),
                machine: machine.clone(),
                failed: *failed,
                status: status.clone(),
            };
            if let Ok(payload) = serde_json::to_vec(&said) {
                let sent = session
                    .put(cluster::ended_key(zone, run, node), payload)
                    .congestion_control(CongestionControl::Block)
                    .wait();
                if let Err(error) = sent {
                    eprintln!("cannot tell the other machines that node `{node}` ended: {error}");
                }
            }
        }
        let Ok(payload) = serde_json::to_vec(&report) else {
            continue;
        };
        let sent = session
            .put(key, payload)
            .congestion_control(CongestionControl::Block)
            .wait();
        if let Err(error) = sent {
            if !said {
                eprintln!("cannot send the reports of {key} to the coordinator: {error}");
                said = true;
            }
        }
    }
}
