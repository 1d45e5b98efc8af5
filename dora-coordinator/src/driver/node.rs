//! Dataflow nodes with `driver: docker`: the supervisor starts `dora
//! container-node`, a small process that runs the node in a container of
//! the machine's engine and stands for it: what the node prints is its
//! output, the node's exit code its exit code, and SIGTERM or SIGINT it
//! gets go on to the node.
//!
//! The container shares what the node API needs with the machine: its
//! `/dev/shm` (shared memory and the run's files), its network (zenoh),
//! and its IPC and PID namespaces (iceoryx2 checks which processes are
//! alive); it runs as the launcher's user, so that the files it makes in
//! shared memory are the run's. Each container is labelled with its run
//! (`dora.run`), so that the launcher removes whatever a killed node left.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
};
use dora_core::resource::PullPolicy;
use futures_util::StreamExt;

use super::docker::{Docker, DockerError};

/// The label that ties a node's container to its run.
pub const RUN_LABEL: &str = "dora.dataflow-run";

/// A node to run in a container.
#[derive(Debug, Clone)]
pub struct NodeContainer {
    pub image: String,
    /// The container's name, unique on the machine.
    pub name: String,
    /// The run's id, for [`RUN_LABEL`].
    pub run: String,
    /// The program in the image and its arguments; empty for the image's
    /// own command.
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Folders of the machine seen at the same path in the container.
    pub mounts: Vec<String>,
    pub workdir: Option<String>,
}

/// Runs `node` to its end; its exit code.
pub fn run(node: NodeContainer) -> Result<i64, DockerError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DockerError::NoEngine(e.to_string()))?;
    runtime.block_on(run_async(node))
}

async fn run_async(node: NodeContainer) -> Result<i64, DockerError> {
    let docker = Docker::connect().await?;
    docker
        .ensure_image(&node.image, PullPolicy::IfNotPresent)
        .await?;
    // A container of the same name is left from a run that was killed.
    docker.stop_and_remove(&node.name, Duration::ZERO).await?;
    // SAFETY: getuid and getgid cannot fail.
    let user = unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) };
    let mut binds = vec!["/dev/shm:/dev/shm".to_owned()];
    binds.extend(node.mounts.iter().map(|m| format!("{m}:{m}")));
    let body = ContainerCreateBody {
        image: Some(node.image.clone()),
        cmd: (!node.cmd.is_empty()).then(|| node.cmd.clone()),
        env: Some(node.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(HashMap::from([
            (RUN_LABEL.to_owned(), node.run.clone()),
            ("dora.node".to_owned(), node.name.clone()),
        ])),
        user: Some(user),
        working_dir: node.workdir.clone(),
        host_config: Some(HostConfig {
            network_mode: Some("host".to_owned()),
            ipc_mode: Some("host".to_owned()),
            pid_mode: Some("host".to_owned()),
            binds: Some(binds),
            ..Default::default()
        }),
        ..Default::default()
    };
    let client = docker.client();
    let options = CreateContainerOptionsBuilder::default()
        .name(&node.name)
        .build();
    client
        .create_container(Some(options), body)
        .await
        .map_err(|e| DockerError::Engine {
            action: "create the node's container",
            message: super::docker::message(&e),
        })?;
    // Attached before it starts: nothing it prints is missed.
    let attach = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .build();
    let attached = client
        .attach_container(&node.name, Some(attach))
        .await
        .map_err(|e| DockerError::Engine {
            action: "attach to the node's container",
            message: super::docker::message(&e),
        });
    let attached = match attached {
        Ok(attached) => attached,
        Err(error) => {
            let _ = docker.stop_and_remove(&node.name, Duration::ZERO).await;
            return Err(error);
        }
    };
    let printing = tokio::spawn(async move {
        use bollard::container::LogOutput;
        use std::io::Write;
        let mut output = attached.output;
        while let Some(Ok(piece)) = output.next().await {
            let written = match piece {
                LogOutput::StdErr { message } => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(&message).and_then(|()| err.flush())
                }
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&message).and_then(|()| out.flush())
                }
                LogOutput::StdIn { .. } => Ok(()),
            };
            if written.is_err() {
                break;
            }
        }
    });
    let ended = async {
        docker.start(&node.name).await?;
        let code = forward_signals(&docker, &node.name).await;
        Ok::<i64, DockerError>(code)
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), printing).await;
    docker.stop_and_remove(&node.name, Duration::ZERO).await?;
    ended
}

/// Waits for the container to end, passing SIGTERM and SIGINT on to it.
async fn forward_signals(docker: &Docker, name: &str) -> i64 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return docker.wait(name).await.unwrap_or(-1);
    };
    let wait = docker.wait(name);
    tokio::pin!(wait);
    loop {
        let signal = tokio::select! {
            code = &mut wait => return code.unwrap_or(-1),
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let options = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        let _ = docker.client().kill_container(name, Some(options)).await;
    }
}

/// Removes the container of a node whose process was killed.
pub fn remove(name: &str) {
    block_on(async {
        if let Ok(docker) = Docker::connect().await {
            if let Err(error) = docker.stop_and_remove(name, Duration::ZERO).await {
                eprintln!("warning: the container {name} of a node was not removed: {error}");
            }
        }
    });
}

fn block_on(work: impl std::future::Future<Output = ()>) {
    if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        runtime.block_on(work);
    }
}

/// Removes every container of run `run`: what nodes that were killed
/// left. Says what it could not remove.
pub fn remove_run(run: &str) {
    block_on(async {
        let Ok(docker) = Docker::connect().await else {
            return;
        };
        match docker.labelled(RUN_LABEL, run).await {
            Ok(ids) => {
                for id in ids {
                    if let Err(error) = docker.stop_and_remove(&id, Duration::ZERO).await {
                        eprintln!("warning: the container {id} of a node was not removed: {error}");
                    }
                }
            }
            Err(error) => eprintln!("warning: cannot look for the nodes' containers: {error}"),
        }
    });
}
