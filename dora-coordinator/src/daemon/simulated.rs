//! Machines a daemon presents beside its own for benchmarks
//! (`--simulate N`): `MACHINE-sim-0` ... are present on the control plane
//! and take commands, but run nothing: a container they are given is
//! accepted and stays Scheduled, and they have none to list.

use dora_core::protocol::cluster::{self, Command, CommandAnswer, Inventory};
use eyre::eyre;

/// What keeps the simulated machines present: dropped, they leave.
pub struct Simulated {
    _tokens: Vec<zenoh::liveliness::LivelinessToken>,
    answering: tokio::task::JoinHandle<()>,
}

impl Drop for Simulated {
    fn drop(&mut self) {
        self.answering.abort();
    }
}

/// Presents `count` machines named after `machine` in `zone`.
pub async fn present(
    session: &zenoh::Session,
    zone: &str,
    machine: &str,
    count: usize,
) -> eyre::Result<Simulated> {
    let commands = session
        .declare_queryable(cluster::command_key(zone, &format!("{machine}-sim-$*")))
        .await
        .map_err(|e| eyre!("cannot take the simulated machines' commands: {e}"))?;
    let answering = tokio::spawn(async move {
        while let Ok(query) = commands.recv_async().await {
            let command = query
                .payload()
                .and_then(|p| serde_json::from_slice::<Command>(&p.to_bytes()).ok());
            let answer = match command {
                Some(Command::RunContainer { .. } | Command::DeleteContainer { .. }) => {
                    CommandAnswer::Done
                }
                Some(Command::Containers) => CommandAnswer::Containers {
                    containers: Vec::new(),
                },
                Some(Command::List) => CommandAnswer::Running {
                    dataflows: Vec::new(),
                    ended: Default::default(),
                },
                Some(Command::Inventory) => CommandAnswer::Inventory {
                    inventory: Inventory::default(),
                },
                _ => CommandAnswer::Refused {
                    reason: "a simulated machine runs nothing".to_owned(),
                },
            };
            if let Ok(payload) = serde_json::to_vec(&answer) {
                let _ = query.reply(query.key_expr().clone(), payload).await;
            }
        }
    });
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let key = cluster::presence_key(zone, &format!("{machine}-sim-{i}"));
        tokens.push(
            session
                .liveliness()
                .declare_token(key)
                .await
                .map_err(|e| eyre!("cannot announce a simulated machine: {e}"))?,
        );
    }
    Ok(Simulated {
        _tokens: tokens,
        answering,
    })
}
