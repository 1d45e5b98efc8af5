//! The supervisor of a dataflow's node processes: what to do when a
//! process ends, when `Stop` comes, and as time passes.
//!
//! It decides and does nothing itself. Whoever drives it (`dora run` on
//! one machine; a machine's daemon in a cluster) starts, signals and kills
//! the processes, carries out the [`Action`]s it returns, and shows or
//! forwards the [`RunEvent`]s it emits. Each decision is a function of
//! what happened and when, so each is tested as such, with no process and
//! no clock.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dora_core::descriptor::{Dataflow, RestartPolicy};
use dora_core::id::NodeId;
use dora_core::protocol::cluster::{DataflowReport, RunEventKind};

use super::summary::{Ended, LossCause};

/// Something the driver must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask node `0` to stop.
    Stop(usize),
    /// Kill node `0`'s process: the grace period after `Stop` is over.
    /// Report its end with [`Supervisor::exited`] and [`Ended::Killed`].
    Kill(usize),
    /// Start node `0` again and run the start-up barrier for it; report
    /// with [`Supervisor::rejoined`] or [`Supervisor::restart_failed`].
    Restart(usize),
    /// Tell node `receiver` that node `ended` has ended for good: the
    /// inputs it fed close once their queues are read.
    CloseInputs { receiver: usize, ended: usize },
    /// Account, as lost for `cause`, what node `node`'s senders sent that
    /// it has neither read nor dropped.
    Account { node: usize, cause: LossCause },
}

/// What a run has to say while it goes on, for a person or a coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// A node's process ended and will be started again after `delay`.
    Restarting {
        node: NodeId,
        how: String,
        delay: Duration,
        restart: u32,
        max_restarts: u32,
    },
    /// A runtime node ended because operators of it failed for good; it is
    /// not restarted, since a new process would not bring back the
    /// operators' state.
    OperatorsFailed {
        node: NodeId,
        how: String,
        operators: Vec<String>,
    },
    /// A node could not be started again.
    RestartFailed { node: NodeId, error: String },
}

impl RunEvent {
    /// The event as a line for a person.
    pub fn describe(&self) -> String {
        match self {
            RunEvent::Restarting {
                node,
                how,
                delay,
                restart,
                max_restarts,
            } => format!(
                "node `{node}` {how}; restarting it in {:.1}s (restart {restart} of {max_restarts})",
                delay.as_secs_f64()
            ),
            RunEvent::OperatorsFailed {
                node,
                how,
                operators,
            } => format!(
                "node `{node}` {how}: {} failed for good after using {} restarts; the node is not restarted, since a new process would not bring back the operators' state",
                operators.join(", "),
                if operators.len() == 1 { "its" } else { "their" },
            ),
            RunEvent::RestartFailed { node, error } => {
                format!("cannot restart node `{node}`: {error}")
            }
        }
    }
}

impl RunEvent {
    /// The event as a coordinator records it.
    pub fn report(&self) -> DataflowReport {
        let (node, event) = match self {
            RunEvent::Restarting {
                node,
                delay,
                restart,
                max_restarts,
                ..
            } => (
                node,
                RunEventKind::Restarting {
                    restart: *restart,
                    max_restarts: *max_restarts,
                    delay_ms: delay.as_millis() as u64,
                },
            ),
            RunEvent::OperatorsFailed {
                node, operators, ..
            } => (
                node,
                RunEventKind::OperatorsFailed {
                    operators: operators.clone(),
                },
            ),
            RunEvent::RestartFailed { node, .. } => (node, RunEventKind::RestartFailed),
        };
        DataflowReport::Event {
            node: node.to_string(),
            event,
            text: self.describe(),
        }
    }
}

/// One node, as the supervisor sees it.
#[derive(Debug, Default)]
struct NodeState {
    /// It runs on another machine of a spread run: this supervisor only
    /// learns when it has ended for good.
    elsewhere: bool,
    /// A process of it runs (or is being started).
    running: bool,
    /// How it ended for good.
    ended: Option<Ended>,
    /// How its last process ended, while a restart is pending.
    last_exit: Option<Ended>,
    restart_at: Option<Instant>,
    restarts: u32,
    /// The restarts counted against `max_restarts`: all of them, or those
    /// of the current `restart_window`, which began at `window_start`.
    counted: u32,
    window_start: Option<Instant>,
}

/// The supervisor of one run of a dataflow.
pub struct Supervisor<'a> {
    dataflow: &'a Dataflow,
    nodes: Vec<NodeState>,
    /// Per node: the nodes that read its outputs.
    downstream: Vec<BTreeSet<usize>>,
    /// How long nodes have after `Stop` before they are killed.
    grace: Duration,
    stopping_since: Option<Instant>,
    events: Vec<RunEvent>,
}

impl<'a> Supervisor<'a> {
    /// A supervisor for `dataflow`, whose node `i` feeds the nodes
    /// `downstream[i]`; every node is running.
    pub fn new(dataflow: &'a Dataflow, downstream: Vec<BTreeSet<usize>>, grace: Duration) -> Self {
        Supervisor {
            dataflow,
            nodes: dataflow
                .nodes
                .iter()
                .map(|_| NodeState {
                    running: true,
                    ..NodeState::default()
                })
                .collect(),
            downstream,
            grace,
            stopping_since: None,
            events: Vec::new(),
        }
    }

    /// The nodes numbered `indices` run on other machines: they are not
    /// this supervisor's to stop or restart, and the run is done without
    /// them, but their end (see [`ended_elsewhere`](Self::ended_elsewhere))
    /// closes the inputs they feed here.
    pub fn run_elsewhere(&mut self, indices: impl IntoIterator<Item = usize>) {
        for index in indices {
            let node = &mut self.nodes[index];
            node.elsewhere = true;
            node.running = false;
        }
    }

    /// Node `index`, on another machine, has ended for good: the inputs
    /// it fed here close. Said twice, the first is kept.
    pub fn ended_elsewhere(&mut self, index: usize, ended: Ended) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.nodes[index].elsewhere && self.nodes[index].ended.is_none() {
            self.end(index, ended, &mut actions);
        }
        actions
    }

    /// Whether every node of this machine has ended for good.
    pub fn is_done(&self) -> bool {
        self.nodes.iter().all(|n| n.elsewhere || n.ended.is_some())
    }

    /// Whether the run was stopped, rather than ending by itself.
    pub fn stopped(&self) -> bool {
        self.stopping_since.is_some()
    }

    /// How node `index` ended for good, if it has.
    pub fn ended(&self, index: usize) -> Option<&Ended> {
        self.nodes[index].ended.as_ref()
    }

    /// How long nodes have after `Stop` before they are killed.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Gives nodes `grace` after a later [`stop`](Self::stop) (a daemon
    /// is told the grace with the request to stop).
    pub fn set_grace(&mut self, grace: Duration) {
        if self.stopping_since.is_none() {
            self.grace = grace;
        }
    }

    /// How often node `index` was started again.
    pub fn restarts(&self, index: usize) -> u32 {
        self.nodes[index].restarts
    }

    /// The events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<RunEvent> {
        std::mem::take(&mut self.events)
    }

    /// `Stop` came (Ctrl-C, SIGTERM, a time limit): ask every running
    /// node to stop; a pending restart is dropped, its last exit final.
    pub fn stop(&mut self, now: Instant) -> Vec<Action> {
        if self.stopping_since.is_some() {
            return Vec::new();
        }
        self.stopping_since = Some(now);
        let mut actions = Vec::new();
        for index in 0..self.nodes.len() {
            let node = &mut self.nodes[index];
            if let Some(last) = node.last_exit.take() {
                node.restart_at = None;
                self.end(index, last, &mut actions);
            } else if node.running {
                actions.push(Action::Stop(index));
            }
        }
        actions
    }

    /// What is due at `now`: kills once the grace period is over, restarts
    /// whose delay has passed.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let grace_over = self
            .stopping_since
            .is_some_and(|since| now.duration_since(since) >= self.grace);
        let mut actions = Vec::new();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            if node.running && grace_over {
                actions.push(Action::Kill(index));
            } else if node.restart_at.is_some_and(|at| at <= now) {
                node.restart_at = None;
                node.running = true;
                actions.push(Action::Restart(index));
            }
        }
        actions
    }

    /// Node `index`'s process ended `ended`. `failed_operators` names the
    /// operators of a runtime node that failed for good, which is why it
    /// exited (then it is not restarted).
    pub fn exited(
        &mut self,
        index: usize,
        ended: Ended,
        failed_operators: Vec<String>,
        now: Instant,
    ) -> Vec<Action> {
        self.nodes[index].running = false;
        // What was sent to it and not read is now known: it was in its
        // queues.
        let cause = if self.stopping_since.is_some() {
            LossCause::UnreadAtStop
        } else if ended.failed() {
            LossCause::InQueueAtExit(ended.describe())
        } else {
            LossCause::AfterEnded
        };
        let mut actions = vec![Action::Account { node: index, cause }];
        let dataflow: &'a Dataflow = self.dataflow;
        let config = &dataflow.nodes[index];
        // A window that has passed since its first restart starts again.
        if let (Some(window), Some(start)) = (config.restart_window, self.nodes[index].window_start)
        {
            if now.duration_since(start) >= window.as_std() {
                self.nodes[index].counted = 0;
                self.nodes[index].window_start = None;
            }
        }
        let counted = self.nodes[index].counted;
        if !failed_operators.is_empty() {
            self.events.push(RunEvent::OperatorsFailed {
                node: config.id.clone(),
                how: ended.describe(),
                operators: failed_operators,
            });
            self.end(index, ended, &mut actions);
        } else if self.stopping_since.is_none()
            && wants_restart(config.restart_policy, &ended)
            && counted < config.max_restarts
        {
            let node = &mut self.nodes[index];
            node.restarts += 1;
            node.counted += 1;
            node.window_start.get_or_insert(now);
            let delay = config.restart_delay_before(node.counted);
            self.events.push(RunEvent::Restarting {
                node: config.id.clone(),
                how: ended.describe(),
                delay,
                restart: node.counted,
                max_restarts: config.max_restarts,
            });
            node.last_exit = Some(ended);
            node.restart_at = Some(now + delay);
        } else {
            self.end(index, ended, &mut actions);
        }
        actions
    }

    /// Node `index`, restarted, has passed its start-up barrier.
    pub fn rejoined(&mut self, index: usize) -> Vec<Action> {
        self.nodes[index].last_exit = None;
        let mut actions = vec![Action::Account {
            node: index,
            cause: LossCause::WhileRestarting,
        }];
        // Nodes that fed it and ended meanwhile told its earlier process,
        // which is gone: tell this one, so that its inputs close once it
        // has read what is queued for it.
        for upstream in 0..self.nodes.len() {
            if self.nodes[upstream].ended.is_some() && self.downstream[upstream].contains(&index) {
                actions.push(Action::CloseInputs {
                    receiver: index,
                    ended: upstream,
                });
            }
        }
        actions
    }

    /// Node `index` could not be started again; its last exit (or this
    /// failure) is its end.
    pub fn restart_failed(&mut self, index: usize, error: String) -> Vec<Action> {
        let node = &mut self.nodes[index];
        node.running = false;
        let last = node.last_exit.take();
        self.events.push(RunEvent::RestartFailed {
            node: self.dataflow.nodes[index].id.clone(),
            error: error.clone(),
        });
        let mut actions = Vec::new();
        self.end(index, last.unwrap_or(Ended::Lost(error)), &mut actions);
        actions
    }

    /// Node `index` has ended for good: the inputs it fed close.
    fn end(&mut self, index: usize, ended: Ended, actions: &mut Vec<Action>) {
        self.nodes[index].ended = Some(ended);
        for &receiver in &self.downstream[index] {
            // A reader on another machine is told by its own daemon.
            if self.nodes[receiver].ended.is_none() && !self.nodes[receiver].elsewhere {
                actions.push(Action::CloseInputs {
                    receiver,
                    ended: index,
                });
            }
        }
    }
}

/// Whether a node that ended this way is started again under `policy`.
fn wants_restart(policy: RestartPolicy, ended: &Ended) -> bool {
    match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => ended.failed(),
        RestartPolicy::Always => true,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;

    /// `source` feeds `sink`; `sink` restarts on failure, twice at most,
    /// after 100 ms, then 200 ms.
    fn dataflow() -> Dataflow {
        Dataflow::from_yaml_str(
            "nodes:
  - id: source
    path: source
    outputs: [out]
  - id: sink
    path: sink
    inputs: { in: source/out }
    restart_policy: on-failure
    max_restarts: 2
    restart_delay: 100ms
",
        )
        .unwrap()
    }

    fn supervisor(dataflow: &Dataflow) -> Supervisor<'_> {
        let downstream = vec![BTreeSet::from([1]), BTreeSet::new()];
        Supervisor::new(dataflow, downstream, Duration::from_secs(2))
    }

    fn exit(code: i32) -> Ended {
        Ended::Exited(ExitStatus::from_raw(code << 8))
    }

    const SOURCE: usize = 0;
    const SINK: usize = 1;

    #[test]
    fn a_node_that_ends_well_closes_the_inputs_it_fed() {
        let dataflow = dataflow();
        let mut s = supervisor(&dataflow);
        let now = Instant::now();
        let actions = s.exited(SOURCE, exit(0), Vec::new(), now);
        assert_eq!(
            actions,
            [
                Action::Account {
                    node: SOURCE,
                    cause: LossCause::AfterEnded
                },
                Action::CloseInputs {
                    receiver: SINK,
                    ended: SOURCE
                },
            ]
        );
        assert!(s.ended(SOURCE).is_some() && !s.is_done());
        s.exited(SINK, exit(0), Vec::new(), now);
        assert!(s.is_done() && !s.stopped());
        assert!(s.take_events().is_empty());
    }

    #[test]
    fn a_restart_window_counts_the_restarts_within_it_only() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:
  - id: source
    path: source
    outputs: [out]
  - id: sink
    path: sink
    inputs: { in: source/out }
    restart_policy: on-failure
    max_restarts: 2
    restart_delay: 100ms
    restart_window: 10s
",
        )
        .unwrap();
        let mut s = supervisor(&dataflow);
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let restarting = |s: &mut Supervisor, count: u32, delay_ms: u64| {
            let events = s.take_events();
            assert!(
                matches!(&events[..], [RunEvent::Restarting { restart, delay, .. }]
                    if *restart == count && *delay == Duration::from_millis(delay_ms)),
                "{events:?}"
            );
        };
        // Two restarts in the window: both made, the delay doubling.
        s.exited(SINK, exit(1), Vec::new(), at(0));
        restarting(&mut s, 1, 100);
        assert_eq!(s.tick(at(1)), [Action::Restart(SINK)]);
        s.rejoined(SINK);
        s.exited(SINK, exit(1), Vec::new(), at(5));
        restarting(&mut s, 2, 200);
        assert_eq!(s.tick(at(6)), [Action::Restart(SINK)]);
        s.rejoined(SINK);
        // 10 s after the window's first restart, the count starts again,
        // and so does the delay.
        s.exited(SINK, exit(1), Vec::new(), at(10));
        restarting(&mut s, 1, 100);
        assert_eq!(s.tick(at(11)), [Action::Restart(SINK)]);
        s.rejoined(SINK);
        s.exited(SINK, exit(1), Vec::new(), at(12));
        restarting(&mut s, 2, 200);
        assert_eq!(s.tick(at(13)), [Action::Restart(SINK)]);
        s.rejoined(SINK);
        // A third within that window: used up, the node ends.
        s.exited(SINK, exit(1), Vec::new(), at(14));
        assert!(s.take_events().is_empty());
        assert!(s.ended(SINK).is_some_and(Ended::failed));
        assert_eq!(s.restarts(SINK), 4, "every restart is in the summary");
    }

    #[test]
    fn a_failing_node_is_restarted_after_its_delay_until_its_restarts_are_used() {
        let dataflow = dataflow();
        let mut s = supervisor(&dataflow);
        let t0 = Instant::now();
        let actions = s.exited(SINK, exit(1), Vec::new(), t0);
        assert_eq!(
            actions,
            [Action::Account {
                node: SINK,
                cause: LossCause::InQueueAtExit("failed: exit code 1".to_owned())
            }]
        );
        assert_eq!(
            s.take_events(),
            [RunEvent::Restarting {
                node: "sink".into(),
                how: "failed: exit code 1".to_owned(),
                delay: Duration::from_millis(100),
                restart: 1,
                max_restarts: 2,
            }]
        );
        assert!(s.tick(t0 + Duration::from_millis(99)).is_empty());
        assert_eq!(
            s.tick(t0 + Duration::from_millis(100)),
            [Action::Restart(SINK)]
        );
        // Its source ended while it was away: the new process is told.
        s.exited(SOURCE, exit(0), Vec::new(), t0);
        assert_eq!(
            s.rejoined(SINK),
            [
                Action::Account {
                    node: SINK,
                    cause: LossCause::WhileRestarting
                },
                Action::CloseInputs {
                    receiver: SINK,
                    ended: SOURCE
                },
            ]
        );
        // The second restart waits twice as long; the third is not made.
        let t1 = t0 + Duration::from_secs(1);
        s.exited(SINK, exit(1), Vec::new(), t1);
        assert!(s.tick(t1 + Duration::from_millis(199)).is_empty());
        assert_eq!(
            s.tick(t1 + Duration::from_millis(200)),
            [Action::Restart(SINK)]
        );
        s.rejoined(SINK);
        s.exited(SINK, exit(1), Vec::new(), t1);
        assert!(s.is_done());
        assert_eq!(s.restarts(SINK), 2);
        assert!(s.ended(SINK).unwrap().failed());
    }

    #[test]
    fn stop_asks_running_nodes_to_stop_makes_a_pending_restart_final_and_kills_after_the_grace() {
        let dataflow = dataflow();
        let mut s = supervisor(&dataflow);
        let t0 = Instant::now();
        s.exited(SINK, exit(1), Vec::new(), t0);
        let actions = s.stop(t0);
        // The sink's restart is dropped: its last exit is its end.
        assert_eq!(actions, [Action::Stop(SOURCE)]);
        assert!(s.ended(SINK).unwrap().failed());
        assert!(s.stop(t0).is_empty(), "a second Stop changes nothing");
        assert!(s.tick(t0 + Duration::from_millis(1999)).is_empty());
        assert_eq!(s.tick(t0 + Duration::from_secs(2)), [Action::Kill(SOURCE)]);
        let actions = s.exited(SOURCE, Ended::Killed { grace: s.grace() }, Vec::new(), t0);
        assert_eq!(
            actions,
            [Action::Account {
                node: SOURCE,
                cause: LossCause::UnreadAtStop
            }]
        );
        assert!(s.is_done() && s.stopped());
    }

    #[test]
    fn a_runtime_whose_operators_failed_for_good_is_not_restarted() {
        let dataflow = dataflow();
        let mut s = supervisor(&dataflow);
        s.exited(
            SINK,
            exit(1),
            vec!["operator `op`".to_owned()],
            Instant::now(),
        );
        assert!(s.ended(SINK).is_some());
        assert_eq!(s.restarts(SINK), 0);
        let [RunEvent::OperatorsFailed { operators, .. }] = &s.take_events()[..] else {
            panic!("no event");
        };
        assert_eq!(operators, &["operator `op`"]);
    }

    #[test]
    fn a_restart_that_fails_ends_the_node_with_its_last_exit_and_closes_its_outputs() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:
  - id: source
    path: source
    outputs: [out]
    restart_policy: always
    max_restarts: 1
  - id: sink
    path: sink
    inputs: { in: source/out }
",
        )
        .unwrap();
        let mut s = supervisor(&dataflow);
        let t0 = Instant::now();
        s.exited(SOURCE, exit(0), Vec::new(), t0);
        assert_eq!(
            s.tick(t0 + Duration::from_secs(1)),
            [Action::Restart(SOURCE)]
        );
        let actions = s.restart_failed(SOURCE, "it exited with exit status: 3".to_owned());
        assert_eq!(
            actions,
            [Action::CloseInputs {
                receiver: SINK,
                ended: SOURCE
            }]
        );
        assert!(!s.ended(SOURCE).unwrap().failed(), "its last exit was ok");
        assert_eq!(
            s.take_events().last().map(RunEvent::describe).as_deref(),
            Some("cannot restart node `source`: it exited with exit status: 3")
        );
    }

    #[test]
    fn a_node_on_another_machine_is_never_signalled_and_its_end_closes_local_inputs() {
        let dataflow = dataflow();
        // This machine runs the sink; the source runs elsewhere.
        let mut supervisor = supervisor(&dataflow);
        supervisor.run_elsewhere([SOURCE]);
        assert!(!supervisor.is_done());
        let now = Instant::now();
        assert_eq!(supervisor.stop(now), vec![Action::Stop(SINK)]);
        assert_eq!(
            supervisor.tick(now + Duration::from_secs(3)),
            vec![Action::Kill(SINK)]
        );

        let mut supervisor = self::supervisor(&dataflow);
        supervisor.run_elsewhere([SOURCE]);
        let ended = Ended::Elsewhere {
            failed: false,
            status: "ok".to_owned(),
        };
        assert_eq!(
            supervisor.ended_elsewhere(SOURCE, ended.clone()),
            vec![Action::CloseInputs {
                receiver: SINK,
                ended: SOURCE
            }]
        );
        // Said again (a daemon and the coordinator both say it): once.
        assert!(supervisor.ended_elsewhere(SOURCE, ended).is_empty());
        assert!(!supervisor.is_done());
        supervisor.exited(SINK, exit(0), Vec::new(), now);
        assert!(supervisor.is_done());

        // The sink elsewhere: the source's end tells nobody here.
        let mut supervisor = self::supervisor(&dataflow);
        supervisor.run_elsewhere([SINK]);
        let actions = supervisor.exited(SOURCE, exit(0), Vec::new(), now);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::CloseInputs { .. })),
            "{actions:?}"
        );
        assert!(supervisor.is_done());
    }
}
