//! The workload containers a machine runs: each is supervised by a task
//! of its own that starts it through the Docker driver, waits for it to
//! end, and starts it again as its restart policy says, with a back-off
//! that doubles after each quick failure (state `CrashLoop` while it
//! waits). Every change of state is reported to the coordinator as the
//! container's whole state.
//!
//! A daemon that starts finds the containers its machine ran before
//! (by their labels) and adopts them: a running one is waited for, not
//! started again; one that ended meanwhile is handled as if it had just
//! ended.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dora_core::protocol::cluster::{
    container_report_key, Command, CommandAnswer, ContainerReport, ContainerRun, ContainerState,
};
use dora_core::resource::WorkloadRestartPolicy;
use tokio::sync::{watch, OnceCell};

use crate::driver::docker::{Docker, DockerError};

/// The first wait before a restart; it doubles after each failure.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest wait before a restart.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long before it ended starts again at once
/// the next time: it was not crash-looping.
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// One supervised container.
struct Entry {
    /// The last report, as sent.
    last: ContainerReport,
    /// Set to the grace period to stop and remove the container.
    delete: watch::Sender<Option<Duration>>,
    /// True once the container is stopped and removed.
    gone: watch::Receiver<bool>,
}

/// The machine's containers.
pub struct Containers {
    session: zenoh::Session,
    zone: String,
    machine: String,
    /// Where restart counts are kept across daemon restarts.
    dir: PathBuf,
    /// The engine, once reached.
    docker: OnceCell<Docker>,
    table: Mutex<HashMap<String, Entry>>,
    /// When this daemon started, in every report.
    epoch: u64,
    /// The output streams being published, by name.
    streams: Mutex<HashMap<String, tokio::task::AbortHandle>>,
}

/// How a container's run ended.
enum Ended {
    Exited(i64),
    CouldNotStart(String),
}

impl Containers {
    pub fn new(
        session: zenoh::Session,
        zone: &str,
        machine: &str,
        state_dir: &std::path::Path,
    ) -> Arc<Containers> {
        Arc::new(Containers {
            session,
            zone: zone.to_owned(),
            machine: machine.to_owned(),
            dir: state_dir.join("containers"),
            docker: OnceCell::new(),
            table: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            epoch: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::task::AbortHandle>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The engine, connected on first use; its absence is said to each
    /// command that needs it (and an engine started later is found).
    async fn docker(&self) -> Result<Docker, String> {
        self.docker
            .get_or_try_init(|| async { Docker::connect().await.map_err(|e| e.to_string()) })
            .await
            .cloned()
    }

    /// Whether `command` is about containers.
    pub fn takes(command: &Command) -> bool {
        matches!(
            command,
            Command::RunContainer { .. }
                | Command::DeleteContainer { .. }
                | Command::Containers
                | Command::ContainerLogs { .. }
                | Command::EndOutput { .. }
                | Command::Exec { .. }
        )
    }

    /// Finds the containers this machine ran before the daemon started
    /// and supervises them again. Without an engine there is nothing to
    /// adopt.
    pub async fn adopt(self: &Arc<Self>) {
        let Ok(docker) = self.docker().await else {
            return;
        };
        let found = match docker.ours(&self.zone, &self.machine).await {
            Ok(found) => found,
            Err(error) => {
                eprintln!("warning: cannot look for this machine's containers: {error}");
                return;
            }
        };
        for found in found {
            let restarts = self.restarts_kept(&found.run.uid);
            eprintln!(
                "adopted container {} of workload `{}` (replica {})",
                short(&found.id),
                found.run.workload,
                found.run.replica
            );
            self.supervise(
                found.run,
                Some((found.id, found.running)),
                restarts,
                docker.clone(),
            );
        }
    }

    /// Carries out a container command.
    pub async fn handle(self: &Arc<Self>, command: Command) -> CommandAnswer {
        match command {
            Command::RunContainer { run } => {
                if self.table().contains_key(&run.uid) {
                    return CommandAnswer::Done;
                }
                let docker = match self.docker().await {
                    Ok(docker) => docker,
                    Err(reason) => return CommandAnswer::Refused { reason },
                };
                self.supervise(*run, None, 0, docker);
                CommandAnswer::Done
            }
            Command::DeleteContainer { uid, grace_ms } => {
                let grace = Duration::from_millis(grace_ms);
                let gone = {
                    let table = self.table();
                    table.get(&uid).map(|entry| {
                        let _ = entry.delete.send(Some(grace));
                        entry.gone.clone()
                    })
                };
                match gone {
                    Some(mut gone) => {
                        // The supervisor stops it; wait for that.
                        let _ = gone.wait_for(|gone| *gone).await;
                        CommandAnswer::Done
                    }
                    // Not supervised here: remove whatever the engine has
                    // of it all the same.
                    None => match self.docker().await {
                        Ok(docker) => match self.remove_unsupervised(&docker, &uid, grace).await {
                            Ok(()) => CommandAnswer::Done,
                            Err(error) => CommandAnswer::Refused {
                                reason: error.to_string(),
                            },
                        },
                        Err(_) => CommandAnswer::Done,
                    },
                }
            }
            Command::Containers => CommandAnswer::Containers {
                containers: self.table().values().map(|e| e.last.clone()).collect(),
            },
            Command::ContainerLogs {
                uid,
                follow,
                stream,
            } => {
                let (id, docker) = match self.container_of(&uid).await {
                    Ok(found) => found,
                    Err(reason) => return CommandAnswer::Refused { reason },
                };
                let this = self.clone();
                let key = stream.clone();
                let task = tokio::spawn(async move {
                    super::output::publish(&this.session, &stream, docker.logs(&id, follow)).await;
                    this.streams().remove(&stream);
                });
                self.streams().insert(key, task.abort_handle());
                CommandAnswer::Done
            }
            Command::Exec {
                uid,
                cmd,
                tty,
                stream,
            } => {
                let (id, docker) = match self.container_of(&uid).await {
                    Ok(found) => found,
                    Err(reason) => return CommandAnswer::Refused { reason },
                };
                match super::exec::start(&self.session, docker, &id, cmd, tty, &stream).await {
                    Ok(()) => CommandAnswer::Done,
                    Err(reason) => CommandAnswer::Refused { reason },
                }
            }
            Command::EndOutput { stream } => {
                if let Some(task) = self.streams().remove(&stream) {
                    task.abort();
                }
                CommandAnswer::Done
            }
            other => CommandAnswer::Refused {
                reason: format!("not a container command: {other:?}"),
            },
        }
    }

    /// The engine's id of the container of replica `uid`, and the engine.
    async fn container_of(&self, uid: &str) -> Result<(String, Docker), String> {
        let id = self
            .table()
            .get(uid)
            .and_then(|e| e.last.container_id.clone());
        let Some(id) = id else {
            return Err(format!(
                "no container of replica {uid} on machine `{}`",
                self.machine
            ));
        };
        Ok((id, self.docker().await?))
    }

    async fn remove_unsupervised(
        &self,
        docker: &Docker,
        uid: &str,
        grace: Duration,
    ) -> Result<(), DockerError> {
        for found in docker.ours(&self.zone, &self.machine).await? {
            if found.run.uid == uid {
                docker.stop_and_remove(&found.id, grace).await?;
            }
        }
        self.forget_restarts(uid);
        Ok(())
    }

    /// Supervises `run` on a task of its own; `adopted` is the engine's
    /// container when it exists already, and whether it runs.
    fn supervise(
        self: &Arc<Self>,
        run: ContainerRun,
        adopted: Option<(String, bool)>,
        restarts: u32,
        docker: Docker,
    ) {
        let (delete, delete_rx) = watch::channel(None);
        let (gone_tx, gone) = watch::channel(false);
        let first = ContainerReport {
            uid: run.uid.clone(),
            epoch: self.epoch,
            seq: 0,
            state: ContainerState::Scheduled,
            reason: None,
            exit_code: None,
            restarts,
            container_id: adopted.as_ref().map(|(id, _)| id.clone()),
            event: None,
        };
        self.table().insert(
            run.uid.clone(),
            Entry {
                last: first.clone(),
                delete,
                gone,
            },
        );
        let this = self.clone();
        tokio::spawn(async move {
            let mut supervisor = Supervisor {
                containers: this.clone(),
                docker,
                report: first,
                delete: delete_rx,
            };
            supervisor.run(&run, adopted).await;
            this.table().remove(&run.uid);
            this.forget_restarts(&run.uid);
            let _ = gone_tx.send(true);
        });
    }

    /// Sends `report` and keeps it as the container's last.
    fn publish(&self, report: &ContainerReport) {
        if let Some(entry) = self.table().get_mut(&report.uid) {
            entry.last = report.clone();
        }
        let key = container_report_key(&self.zone, &self.machine, &report.uid);
        let payload = match serde_json::to_vec(report) {
            Ok(payload) => payload,
            Err(_) => return,
        };
        let session = self.session.clone();
        tokio::spawn(async move {
            if let Err(error) = session.put(key, payload).await {
                eprintln!("warning: a container report was not sent: {error}");
            }
        });
    }

    fn restarts_file(&self, uid: &str) -> PathBuf {
        self.dir.join(format!("{uid}.restarts"))
    }

    fn restarts_kept(&self, uid: &str) -> u32 {
        std::fs::read_to_string(self.restarts_file(uid))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn keep_restarts(&self, uid: &str, restarts: u32) {
        let _ = std::fs::create_dir_all(&self.dir);
        if let Err(error) = std::fs::write(self.restarts_file(uid), restarts.to_string()) {
            eprintln!("warning: cannot keep the restart count of container {uid}: {error}");
        }
    }

    fn forget_restarts(&self, uid: &str) {
        let _ = std::fs::remove_file(self.restarts_file(uid));
    }
}

/// The first 12 characters of an engine id, as `docker ps` shows it.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The task that keeps one container.
struct Supervisor {
    containers: Arc<Containers>,
    docker: Docker,
    report: ContainerReport,
    delete: watch::Receiver<Option<Duration>>,
}

impl Supervisor {
    fn send(&mut self, state: ContainerState, reason: Option<String>, event: String) {
        self.report.seq += 1;
        self.report.state = state;
        self.report.reason = reason;
        self.report.event = Some(event);
        self.containers.publish(&self.report);
    }

    /// Resolves when the container is to be deleted, with the grace.
    async fn deleted(delete: &mut watch::Receiver<Option<Duration>>) -> Duration {
        let asked = delete.wait_for(Option::is_some).await.map(|grace| *grace);
        match asked {
            Ok(grace) => grace.unwrap_or_default(),
            // The daemon is going away: leave the container running, to
            // be adopted by the next start.
            Err(_) => std::future::pending().await,
        }
    }

    async fn run(&mut self, run: &ContainerRun, adopted: Option<(String, bool)>) {
        let mut delete = self.delete.clone();
        let mut id = adopted.as_ref().map(|(id, _)| id.clone());
        // An adopted container that ended while the daemon was away is
        // handled as if it had just ended.
        let mut ended_away = None;
        match &adopted {
            Some((_, true)) => self.send(
                ContainerState::Running,
                None,
                "adopted by the restarted daemon".to_owned(),
            ),
            Some((container, false)) => {
                ended_away = Some(match self.docker.inspect(container).await {
                    Ok(Some((_, code))) => Ended::Exited(code),
                    _ => Ended::CouldNotStart(
                        "the container vanished while the daemon was away".to_owned(),
                    ),
                });
            }
            None => {}
        }
        let mut running = matches!(adopted, Some((_, true)));
        let mut failures = 0u32;
        let grace = loop {
            let started_at = Instant::now();
            let ended = if let Some(ended) = ended_away.take() {
                ended
            } else {
                if !running {
                    let started = match unless_deleted(&mut delete, self.start(run, &mut id)).await
                    {
                        Ok(started) => started,
                        Err(grace) => break grace,
                    };
                    match started {
                        Ok(()) => {
                            let event = match self.report.restarts {
                                0 => "started".to_owned(),
                                n => format!("started again (restart {n})"),
                            };
                            self.report.container_id = id.clone();
                            self.report.exit_code = None;
                            self.send(ContainerState::Running, None, event);
                        }
                        Err(error) => {
                            // Handled below like a run that failed.
                            ended_away = Some(Ended::CouldNotStart(error.to_string()));
                        }
                    }
                }
                match ended_away.take() {
                    Some(ended) => ended,
                    None => {
                        let container = id.clone().unwrap_or_default();
                        let code =
                            match unless_deleted(&mut delete, self.docker.wait(&container)).await {
                                Ok(code) => code,
                                Err(grace) => break grace,
                            };
                        match code {
                            Ok(code) => Ended::Exited(code),
                            Err(error) => Ended::CouldNotStart(error.to_string()),
                        }
                    }
                }
            };
            running = false;
            let ran = started_at.elapsed();
            let (failed, what) = match &ended {
                Ended::Exited(code) => {
                    self.report.exit_code = Some(*code);
                    (*code != 0, format!("exited with code {code}"))
                }
                Ended::CouldNotStart(reason) => (true, reason.clone()),
            };
            let again = match run.restart_policy {
                WorkloadRestartPolicy::Never => false,
                WorkloadRestartPolicy::OnFailure => failed,
                WorkloadRestartPolicy::Always => true,
            };
            if !again {
                let state = if failed {
                    ContainerState::Failed
                } else {
                    ContainerState::Succeeded
                };
                self.send(state, failed.then(|| what.clone()), what);
                // It is kept, ended, until deleted.
                break Self::deleted(&mut delete).await;
            }
            failures = if ran >= BACKOFF_RESET {
                0
            } else {
                failures + 1
            };
            let delay = backoff(failures);
            self.report.restarts += 1;
            self.containers
                .keep_restarts(&run.uid, self.report.restarts);
            let reason = format!(
                "{what}; starts again in {} (restart {})",
                seconds(delay),
                self.report.restarts
            );
            self.send(ContainerState::CrashLoop, Some(reason.clone()), reason);
            if let Err(grace) = unless_deleted(&mut delete, tokio::time::sleep(delay)).await {
                break grace;
            }
        };
        // Deleted: stop and remove whatever the engine has of it.
        let removed = match &id {
            Some(id) => self.docker.stop_and_remove(id, grace).await,
            None => Ok(()),
        };
        if let Err(error) = removed {
            eprintln!(
                "warning: container of `{}` replica {} was not removed: {error}",
                run.workload, run.replica
            );
        }
    }

    /// Pulls the image if needed, creates the container if it does not
    /// exist, and starts it.
    async fn start(&self, run: &ContainerRun, id: &mut Option<String>) -> Result<(), DockerError> {
        if id.is_none() {
            self.docker
                .ensure_image(&run.image, run.pull_policy)
                .await?;
            for mount in &run.mounts {
                std::fs::create_dir_all(&mount.source).map_err(|e| DockerError::Engine {
                    action: "mount a volume",
                    message: format!("cannot make {}: {e}", mount.source),
                })?;
            }
            *id = Some(self.docker.create(run, &self.containers.machine).await?);
        }
        self.docker.start(id.as_deref().unwrap_or_default()).await
    }
}

/// `work`, unless the container is deleted first: then the grace.
async fn unless_deleted<T>(
    delete: &mut watch::Receiver<Option<Duration>>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Duration> {
    tokio::select! {
        done = work => Ok(done),
        grace = Supervisor::deleted(delete) => Err(grace),
    }
}

/// The wait before restart number `failures` of a run of quick failures.
fn backoff(failures: u32) -> Duration {
    let doubled = BACKOFF_FIRST.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(BACKOFF_MAX)
}

fn seconds(delay: Duration) -> String {
    format!("{}s", delay.as_secs_f64())
}

#[test]
fn the_backoff_doubles_from_one_second_up_to_five_minutes() {
    assert_eq!(backoff(0), Duration::from_secs(1));
    assert_eq!(backoff(1), Duration::from_secs(1));
    assert_eq!(backoff(2), Duration::from_secs(2));
    assert_eq!(backoff(4), Duration::from_secs(8));
    assert_eq!(backoff(9), Duration::from_secs(256));
    assert_eq!(backoff(10), BACKOFF_MAX);
    assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
}
