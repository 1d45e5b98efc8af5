//! `dora exec workload/NAME [--replica I] -- CMD ARGS...`: runs a command
//! in a replica's container, with this terminal when stdin and stdout
//! are one (raw mode, its size passed on), else with stdin and stdout as
//! they are. Exits with the command's exit code.

use std::io::{Read, Write};
use std::process::ExitCode;

use dora_core::protocol::cluster::ExecFrame;
use eyre::{bail, eyre, WrapErr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{api_error, encode, query, Connection, Place};

/// The protocol the coordinator switches the connection to.
const PROTOCOL: &str = "dora-exec";

pub fn exec(
    connection: &Connection,
    place: &Place,
    target: &str,
    replica: Option<u32>,
    cmd: Vec<String>,
) -> eyre::Result<ExitCode> {
    let Some(name) = target.strip_prefix("workload/") else {
        bail!("`{target}`: commands run in a workload's containers; write `workload/NAME`");
    };
    if cmd.is_empty() {
        bail!("no command: write `dora exec {target} -- COMMAND ARGS...`");
    }
    // SAFETY: isatty only reads the state of the descriptor.
    let tty = unsafe { libc::isatty(0) == 1 && libc::isatty(1) == 1 };
    let index = replica.unwrap_or(0).to_string();
    let words = serde_json::to_string(&cmd)?;
    let mut extra = vec![("replica", index.as_str()), ("cmd", words.as_str())];
    if tty {
        extra.push(("tty", "1"));
    }
    let path = format!(
        "/api/v1/workloads/{}/exec{}",
        encode(name),
        query(place, &extra)
    );
    let client = connection.client()?;
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    let outcome = client.upgrade(&path, PROTOCOL, async |connection| {
        let (mut from, mut to) = tokio::io::split(connection);
        if let Some((columns, rows)) = raw.as_ref().and_then(|_| window_size()) {
            to.write_all(&ExecFrame::Resize(columns, rows).to_wire())
                .await?;
        }
        // Standard input is read on a thread of its own: a blocking read
        // would hold up the output.
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buffer = [0u8; 8192];
            while let Ok(n @ 1..) = stdin.read(&mut buffer) {
                if sender.blocking_send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(bytes) = receiver.recv().await {
                if to
                    .write_all(&ExecFrame::Stdin(bytes).to_wire())
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = to.write_all(&ExecFrame::StdinEnd.to_wire()).await;
        });
        let mut head = [0u8; 5];
        loop {
            from.read_exact(&mut head)
                .await
                .wrap_err("the connection closed before the command ended")?;
            let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let mut bytes = vec![0; length];
            from.read_exact(&mut bytes)
                .await
                .wrap_err("the connection closed before the command ended")?;
            match ExecFrame::decode(head[0], &bytes) {
                Some(ExecFrame::Stdout(bytes)) => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes)?;
                    out.flush()?;
                }
                Some(ExecFrame::Stderr(bytes)) => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(&bytes)?;
                    err.flush()?;
                }
                Some(ExecFrame::Exit(code)) => return Ok(code),
                Some(ExecFrame::Error(reason)) => {
                    return Err(eyre!("the command broke off: {reason}"))
                }
                _ => {}
            }
        }
    })?;
    drop(raw);
    match outcome {
        Err(answer) => Err(api_error(&answer)),
        Ok(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
    }
}

/// The terminal in raw mode, as long as it is held: keys go to the
/// command as they are typed.
struct RawMode(libc::termios);

impl RawMode {
    fn enter() -> eyre::Result<RawMode> {
        // SAFETY: termios is plain data, filled in by tcgetattr.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return Err(std::io::Error::last_os_error())
                    .wrap_err("cannot read the terminal's settings");
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(0, libc::TCSANOW, &raw) != 0 {
                return Err(std::io::Error::last_os_error())
                    .wrap_err("cannot set the terminal to raw mode");
            }
            Ok(RawMode(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}

/// The terminal's size: columns, rows.
fn window_size() -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data, filled in by the ioctl.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        (libc::ioctl(1, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0)
            .then_some((size.ws_col, size.ws_row))
    }
}

/// `dora container-node`: runs a dataflow node in a container, standing
/// for it; exits with its exit code.
pub fn container_node(
    image: String,
    name: String,
    run: String,
    env: Vec<String>,
    mounts: Vec<String>,
    cmd: Vec<String>,
) -> eyre::Result<ExitCode> {
    let env = env
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| eyre!("`{pair}` is not KEY=VALUE"))
        })
        .collect::<eyre::Result<Vec<_>>>()?;
    let node = crate::driver::node::NodeContainer {
        image,
        name,
        run,
        cmd,
        env,
        mounts,
        workdir: None,
    };
    let code = crate::driver::node::run(node).wrap_err("the node's container could not run")?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
