//! A container's output, published to the coordinator as numbered
//! chunks of whole lines, ending with a chunk that says why it ended.

use dora_core::protocol::cluster::{output_key, OutputChunk};
use futures_util::{Stream, StreamExt};

use crate::driver::docker::DockerError;

/// The most bytes of one line; a longer line is cut into pieces.
const LINE_MAX: usize = 64 * 1024;

/// Publishes `output` on `stream` until it ends.
pub async fn publish(
    session: &zenoh::Session,
    stream: &str,
    output: impl Stream<Item = Result<(bool, bytes::Bytes), DockerError>>,
) {
    let key = output_key(stream);
    let mut seq = 0u64;
    let put = |chunk: OutputChunk| {
        let session = session.clone();
        let key = key.clone();
        async move {
            let Ok(payload) = serde_json::to_vec(&chunk) else {
                return false;
            };
            session.put(key, payload).await.is_ok()
        }
    };
    // Bytes of an unfinished line, per stream (stdout, stderr).
    let mut partial: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    futures_util::pin_mut!(output);
    let end = loop {
        match output.next().await {
            Some(Ok((stderr, bytes))) => {
                let pending = &mut partial[usize::from(stderr)];
                pending.extend_from_slice(&bytes);
                while let Some(cut) = pending
                    .iter()
                    .position(|b| *b == b'\n')
                    .or((pending.len() >= LINE_MAX).then_some(LINE_MAX - 1))
                {
                    let line: Vec<u8> = pending.drain(..=cut).collect();
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches('\n')
                        .to_owned();
                    let chunk = OutputChunk {
                        seq,
                        stderr,
                        text,
                        end: None,
                    };
                    seq += 1;
                    if !put(chunk).await {
                        return;
                    }
                }
            }
            Some(Err(error)) => break error.to_string(),
            None => break "the container's output ended".to_owned(),
        }
    };
    for (stderr, rest) in partial.iter().enumerate() {
        if !rest.is_empty() {
            let chunk = OutputChunk {
                seq,
                stderr: stderr == 1,
                text: String::from_utf8_lossy(rest).into_owned(),
                end: None,
            };
            seq += 1;
            put(chunk).await;
        }
    }
    put(OutputChunk {
        seq,
        stderr: false,
        text: String::new(),
        end: Some(end),
    })
    .await;
}
