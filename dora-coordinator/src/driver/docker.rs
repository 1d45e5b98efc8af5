//! The Docker driver: runs a workload's replica as a container of the
//! machine's engine, through its API (bollard).
//!
//! Every container it makes carries labels that say whose it is
//! (`dora.zone`, `dora.machine`, `dora.workspace`, `dora.workload`,
//! `dora.replica`, `dora.uid`) and what it runs (`dora.run`, the whole
//! [`ContainerRun`] as JSON), so that a daemon that restarts finds and
//! adopts its containers instead of starting them twice. The engine's own
//! restart policy stays `no`: dora restarts containers itself.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use dora_core::protocol::cluster::ContainerRun;
use dora_core::resource::{NetworkMode, PullPolicy};
use futures_util::{Stream, StreamExt};

/// The label that holds a container's [`ContainerRun`].
pub const RUN_LABEL: &str = "dora.run";

/// What went wrong, with the engine's message.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker engine answers on this machine ({0}); install and start Docker to run workloads here")]
    NoEngine(String),
    #[error("ImagePullFailed: cannot pull image `{image}`: {message}")]
    ImagePullFailed { image: String, message: String },
    #[error("the Docker engine refused to {action}: {message}")]
    Engine {
        action: &'static str,
        message: String,
    },
}

/// Output of a container or a command, as (on stderr, bytes).
pub type Output =
    std::pin::Pin<Box<dyn Stream<Item = Result<(bool, bytes::Bytes), DockerError>> + Send>>;

/// A command started in a container by [`Docker::exec`].
pub struct Exec {
    pub id: String,
    /// What it prints.
    pub output: Output,
    /// Its standard input.
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

/// A container of ours that the engine has, with what it runs.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: String,
    pub run: ContainerRun,
    pub running: bool,
}

/// The machine's Docker engine.
#[derive(Debug, Clone)]
pub struct Docker {
    client: bollard::Docker,
}

fn engine(action: &'static str) -> impl Fn(bollard::errors::Error) -> DockerError {
    move |error| DockerError::Engine {
        action,
        message: message(&error),
    }
}

/// A piece of output as (on stderr, bytes); an error says it failed to
/// `action`.
fn split(
    piece: Result<bollard::container::LogOutput, bollard::errors::Error>,
    action: &'static str,
) -> Result<(bool, bytes::Bytes), DockerError> {
    use bollard::container::LogOutput;
    match piece {
        Ok(LogOutput::StdErr { message }) => Ok((true, message)),
        Ok(
            LogOutput::StdOut { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message },
        ) => Ok((false, message)),
        Err(error) => Err(engine(action)(error)),
    }
}

/// The engine's message, without bollard's wrapping.
pub(super) fn message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl Docker {
    /// The engine's client, for what this driver does not wrap.
    pub(super) fn client(&self) -> &bollard::Docker {
        &self.client
    }

    /// The ids of the containers, running or not, with label `key=value`.
    pub async fn labelled(&self, key: &str, value: &str) -> Result<Vec<String>, DockerError> {
        let listed = self.list(&[format!("{key}={value}")]).await?;
        Ok(listed.into_iter().filter_map(|c| c.id).collect())
    }

    /// The containers, running or not, with every label of `labels`
    /// (`key=value`).
    async fn list(
        &self,
        labels: &[String],
    ) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
        let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", labels.to_vec())]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.client
            .list_containers(Some(options))
            .await
            .map_err(engine("list the containers"))
    }

    /// Connects to the engine at `DOCKER_HOST` or its Unix socket, at the
    /// newest API version both sides speak.
    pub async fn connect() -> Result<Docker, DockerError> {
        let client = bollard::Docker::connect_with_local_defaults()
            .map_err(|e| DockerError::NoEngine(e.to_string()))?;
        let client = client
            .negotiate_version()
            .await
            .map_err(|e| DockerError::NoEngine(message(&e)))?;
        Ok(Docker { client })
    }

    /// Makes sure the machine has `image`, pulling it as `policy` says.
    pub async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<(), DockerError> {
        if policy == PullPolicy::IfNotPresent && self.client.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull = self.client.create_image(Some(options), None, None);
        while let Some(step) = pull.next().await {
            let failed = match step {
                Ok(info) => info.error_detail.and_then(|d| d.message),
                Err(error) => Some(message(&error)),
            };
            if let Some(message) = failed {
                return Err(DockerError::ImagePullFailed {
                    image: image.to_owned(),
                    message,
                });
            }
        }
        Ok(())
    }

    /// Creates the container of `run` on `machine`; its id.
    pub async fn create(&self, run: &ContainerRun, machine: &str) -> Result<String, DockerError> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&container_name(run))
            .build();
        let created = self
            .client
            .create_container(Some(options), create_body(run, machine))
            .await
            .map_err(engine("create the container"))?;
        Ok(created.id)
    }

    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        self.client
            .start_container(id, None)
            .await
            .map_err(engine("start the container"))
    }

    /// Waits for the container to end; its exit code.
    pub async fn wait(&self, id: &str) -> Result<i64, DockerError> {
        let mut wait = self.client.wait_container(id, None);
        match wait.next().await {
            Some(Ok(response)) => return Ok(response.status_code),
            // bollard reports an exit code other than 0 as an error.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                return Ok(code)
            }
            Some(Err(error)) => {
                return Err(DockerError::Engine {
                    action: "wait for the container",
                    message: message(&error),
                })
            }
            None => {}
        }
        // The stream ended without an answer: ask.
        match self.inspect(id).await? {
            Some((false, code)) => Ok(code),
            _ => Err(DockerError::Engine {
                action: "say how the container ended",
                message: "the wait ended without an exit code".to_owned(),
            }),
        }
    }

    /// What the container printed, as (on stderr, bytes), from its start;
    /// with `follow`, then what it prints until it ends.
    pub fn logs(
        &self,
        id: &str,
        follow: bool,
    ) -> impl Stream<Item = Result<(bool, bytes::Bytes), DockerError>> + use<> {
        let options = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .build();
        self.client
            .logs(id, Some(options))
            .map(|piece| split(piece, "read the container's log"))
    }

    /// Starts `cmd` in the container, attached, with a terminal when
    /// `tty`: its id, its output as (on stderr, bytes), and its input.
    pub async fn exec(
        &self,
        container: &str,
        cmd: Vec<String>,
        tty: bool,
    ) -> Result<Exec, DockerError> {
        use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
        let options = CreateExecOptions {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(tty),
            cmd: Some(cmd),
            ..Default::default()
        };
        let created = self
            .client
            .create_exec(container, options)
            .await
            .map_err(engine("run the command"))?;
        let start = StartExecOptions {
            detach: false,
            tty,
            output_capacity: None,
        };
        match self
            .client
            .start_exec(&created.id, Some(start))
            .await
            .map_err(engine("start the command"))?
        {
            StartExecResults::Attached { output, input } => Ok(Exec {
                id: created.id,
                output: Box::pin(output.map(|piece| split(piece, "read the command's output"))),
                input,
            }),
            StartExecResults::Detached => Err(DockerError::Engine {
                action: "attach to the command",
                message: "it started detached".to_owned(),
            }),
        }
    }

    /// Sets the terminal size of a command run by [`Docker::exec`].
    pub async fn resize_exec(
        &self,
        exec: &str,
        columns: u16,
        rows: u16,
    ) -> Result<(), DockerError> {
        let options = bollard::query_parameters::ResizeExecOptions {
            h: i32::from(rows),
            w: i32::from(columns),
        };
        self.client
            .resize_exec(exec, options)
            .await
            .map_err(engine("resize the terminal"))
    }

    /// The exit code of a command run by [`Docker::exec`], once it ended.
    pub async fn exec_exit_code(&self, exec: &str) -> Result<Option<i64>, DockerError> {
        let inspected = self
            .client
            .inspect_exec(exec)
            .await
            .map_err(engine("inspect the command"))?;
        Ok(inspected.exit_code)
    }

    /// Whether the container runs, and its last exit code; `None` when the
    /// engine has no such container.
    pub async fn inspect(&self, id: &str) -> Result<Option<(bool, i64)>, DockerError> {
        match self.client.inspect_container(id, None).await {
            Ok(inspected) => {
                let state = inspected.state.unwrap_or_default();
                Ok(Some((
                    state.running.unwrap_or(false),
                    state.exit_code.unwrap_or(0),
                )))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(error) => Err(engine("inspect the container")(error)),
        }
    }

    /// Stops the container (SIGTERM, then SIGKILL after `grace`) and
    /// removes it. A container already gone is no error.
    pub async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<(), DockerError> {
        let seconds = grace.as_secs_f64().ceil().min(i32::MAX as f64) as i32;
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        match self.client.stop_container(id, Some(options)).await {
            Ok(()) => {}
            // 304: it was not running; 404: it is gone.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => {}
            Err(error) => return Err(engine("stop the container")(error)),
        }
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.client.remove_container(id, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(error) => Err(engine("remove the container")(error)),
        }
    }

    /// The containers of `machine` in `zone`, running or not, with what
    /// each runs. One whose `dora.run` label cannot be read is removed:
    /// nothing could supervise it.
    pub async fn ours(&self, zone: &str, machine: &str) -> Result<Vec<Found>, DockerError> {
        let listed = self
            .list(&[
                format!("dora.zone={zone}"),
                format!("dora.machine={machine}"),
            ])
            .await?;
        let mut found = Vec::with_capacity(listed.len());
        for container in listed {
            let Some(id) = container.id else { continue };
            let labels = container.labels.unwrap_or_default();
            let run = labels
                .get(RUN_LABEL)
                .and_then(|text| serde_json::from_str::<ContainerRun>(text).ok());
            let running = container
                .state
                .is_some_and(|s| s.to_string().eq_ignore_ascii_case("running"));
            match run {
                Some(run) => found.push(Found { id, run, running }),
                None => {
                    eprintln!("warning: container {id} has dora's labels but no readable `{RUN_LABEL}`; removing it");
                    self.stop_and_remove(&id, Duration::from_secs(10)).await?;
                }
            }
        }
        Ok(found)
    }
}

/// The container's name: its workload, replica and uid, in the
/// characters the engine accepts.
pub fn container_name(run: &ContainerRun) -> String {
    dora_core::id::safe_name(&format!("dora-{}-{}-{}", run.workspace, run.name, run.uid))
}

/// What the engine is asked to create for `run` on `machine`.
pub fn create_body(run: &ContainerRun, machine: &str) -> ContainerCreateBody {
    let mut labels = HashMap::from([
        ("dora.zone".to_owned(), run.zone.clone()),
        ("dora.machine".to_owned(), machine.to_owned()),
        ("dora.workspace".to_owned(), run.workspace.clone()),
        ("dora.workload".to_owned(), run.workload.clone()),
        ("dora.replica".to_owned(), run.replica.to_string()),
        ("dora.uid".to_owned(), run.uid.clone()),
    ]);
    if let Ok(text) = serde_json::to_string(run) {
        labels.insert(RUN_LABEL.to_owned(), text);
    }
    let ports: Vec<(String, String)> = run
        .ports
        .iter()
        .map(|p| {
            let protocol = match p.protocol {
                dora_core::resource::Protocol::Tcp => "tcp",
                dora_core::resource::Protocol::Udp => "udp",
            };
            (format!("{}/{protocol}", p.port), p.node_port.to_string())
        })
        .collect();
    let port_bindings = (!ports.is_empty()).then(|| {
        ports
            .iter()
            .map(|(inside, outside)| {
                (
                    inside.clone(),
                    Some(vec![PortBinding {
                        host_ip: None,
                        host_port: Some(outside.clone()),
                    }]),
                )
            })
            .collect()
    });
    let device_requests = (!run.gpus.is_empty()).then(|| {
        vec![DeviceRequest {
            driver: Some("nvidia".to_owned()),
            device_ids: Some(run.gpus.clone()),
            capabilities: Some(vec![vec!["gpu".to_owned()]]),
            ..Default::default()
        }]
    });
    let binds: Vec<String> = run
        .mounts
        .iter()
        .map(|m| {
            let mode = if m.read_only { ":ro" } else { "" };
            format!("{}:{}{mode}", m.source, m.target)
        })
        .collect();
    let network_mode = match run.network_mode {
        NetworkMode::Bridge => "bridge",
        NetworkMode::Host => "host",
        NetworkMode::None => "none",
    };
    ContainerCreateBody {
        image: Some(run.image.clone()),
        cmd: Some(run.cmd.clone()),
        env: Some(run.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        exposed_ports: (!ports.is_empty()).then(|| ports.iter().map(|(p, _)| p.clone()).collect()),
        host_config: Some(HostConfig {
            shm_size: run.shm_size.map(|s| s.min(i64::MAX as u64) as i64),
            network_mode: Some(network_mode.to_owned()),
            port_bindings,
            device_requests,
            binds: (!binds.is_empty()).then_some(binds),
            nano_cpus: (run.cpus > 0).then(|| i64::from(run.cpus) * 1_000_000_000),
            // dora restarts it, as its policy says: never the engine.
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dora_core::protocol::cluster::Mount;
    use dora_core::resource::{Port, PortKind, Protocol, WorkloadRestartPolicy};

    fn run() -> ContainerRun {
        ContainerRun {
            uid: "u1".to_owned(),
            zone: "dc-1".to_owned(),
            workspace: "lab".to_owned(),
            name: "train-0".to_owned(),
            workload: "train".to_owned(),
            replica: 0,
            image: "busybox".to_owned(),
            pull_policy: PullPolicy::IfNotPresent,
            cmd: vec!["sleep".to_owned(), "60".to_owned()],
            env: [("A".to_owned(), "1".to_owned())].into(),
            shm_size: Some(1 << 30),
            restart_policy: WorkloadRestartPolicy::OnFailure,
            network_mode: NetworkMode::Bridge,
            ports: vec![Port {
                name: "http".to_owned(),
                kind: PortKind::NodePort,
                protocol: Protocol::Tcp,
                node_port: 25000,
                port: 8008,
            }],
            mounts: vec![Mount {
                source: "/srv/lab/home".to_owned(),
                target: "/home".to_owned(),
                read_only: false,
            }],
            gpus: vec!["GPU-b".to_owned(), "GPU-a".to_owned()],
            cpus: 2,
        }
    }

    #[test]
    fn the_engine_is_asked_for_exactly_the_assigned_gpus_ports_and_mounts() {
        let body = create_body(&run(), "gpu-1");
        let host = body.host_config.unwrap();
        let gpus = host.device_requests.unwrap();
        assert_eq!(gpus.len(), 1);
        assert_eq!(
            gpus[0].device_ids.as_deref(),
            Some(&["GPU-b".to_owned(), "GPU-a".to_owned()][..])
        );
        assert_eq!(gpus[0].count, None, "a count would pick GPUs by index");
        let ports = host.port_bindings.unwrap();
        assert_eq!(
            ports["8008/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("25000"),
            "the machine port is the nodePort, not one off"
        );
        assert_eq!(host.shm_size, Some(1 << 30));
        assert_eq!(host.binds.unwrap(), vec!["/srv/lab/home:/home"]);
        assert_eq!(host.nano_cpus, Some(2_000_000_000));
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::NO),
            "dora restarts, not the engine"
        );
        let labels = body.labels.unwrap();
        assert_eq!(labels["dora.machine"], "gpu-1");
        let back: ContainerRun = serde_json::from_str(&labels[RUN_LABEL]).unwrap();
        assert_eq!(back, run());
        assert_eq!(body.env.unwrap(), vec!["A=1"]);
    }

    #[test]
    fn container_names_keep_to_the_engines_characters() {
        let mut run = run();
        run.workspace = "amedeo setti".to_owned();
        assert_eq!(container_name(&run), "dora-amedeo-setti-train-0-u1");
    }
}
