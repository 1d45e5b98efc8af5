//! `dora exec` on the machine: the command runs in the container through
//! the engine; its input comes from the control plane and its output and
//! exit code go back there, frame by frame.

use dora_core::protocol::cluster::{exec_input_key, exec_output_key, ExecFrame};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::driver::docker::Docker;

/// Starts `cmd` in container `id`; it then runs on its own task until it
/// ends. An error says why it could not start.
pub async fn start(
    session: &zenoh::Session,
    docker: Docker,
    id: &str,
    cmd: Vec<String>,
    tty: bool,
    stream: &str,
) -> Result<(), String> {
    // Input is listened for before the command starts: none is lost.
    let input = session
        .declare_subscriber(exec_input_key(stream))
        .await
        .map_err(|e| format!("cannot take the command's input: {e}"))?;
    let exec = docker.exec(id, cmd, tty).await.map_err(|e| e.to_string())?;
    let (session, output_key) = (session.clone(), exec_output_key(stream));
    tokio::spawn(async move {
        let mut to_command = exec.input;
        let (resizer, exec_id) = (docker.clone(), exec.id.clone());
        let feeding = tokio::spawn(async move {
            while let Ok(sample) = input.recv_async().await {
                match ExecFrame::from_message(&sample.payload().to_bytes()) {
                    Some(ExecFrame::Stdin(bytes)) => {
                        if to_command.write_all(&bytes).await.is_err() {
                            break;
                        }
                        let _ = to_command.flush().await;
                    }
                    Some(ExecFrame::StdinEnd) => {
                        let _ = to_command.shutdown().await;
                        break;
                    }
                    Some(ExecFrame::Resize(columns, rows)) => {
                        let _ = resizer.resize_exec(&exec_id, columns, rows).await;
                    }
                    _ => {}
                }
            }
        });
        let send = |frame: ExecFrame| {
            let (session, key) = (session.clone(), output_key.clone());
            async move { session.put(key, frame.to_message()).await.is_ok() }
        };
        let mut output = exec.output;
        let mut broke = None;
        while let Some(piece) = output.next().await {
            let frame = match piece {
                Ok((true, bytes)) => ExecFrame::Stderr(bytes.to_vec()),
                Ok((false, bytes)) => ExecFrame::Stdout(bytes.to_vec()),
                Err(error) => {
                    broke = Some(error.to_string());
                    break;
                }
            };
            if !send(frame).await {
                break;
            }
        }
        feeding.abort();
        let last = match broke {
            Some(reason) => ExecFrame::Error(reason),
            None => match docker.exec_exit_code(&exec.id).await {
                Ok(Some(code)) => ExecFrame::Exit(code),
                Ok(None) => ExecFrame::Error("the engine gave no exit code".to_owned()),
                Err(error) => ExecFrame::Error(error.to_string()),
            },
        };
        send(last).await;
    });
    Ok(())
}
