//! The runtime as a node of a dataflow: messages from other nodes come
//! through its event stream, and what operators send to other nodes goes
//! out through its outputs.

use std::time::Duration;

use dora_core::config::NodeConfig;
use dora_core::id::DataId;
use dora_node_api::{DoraNode, Event, Parameters};
use eyre::WrapErr;

use crate::runtime::{Outlet, PythonLoader, Runtime, RuntimeError};

struct NodeOutlet<'a>(&'a mut DoraNode);

impl Outlet for NodeOutlet<'_> {
    fn send(
        &mut self,
        output: &DataId,
        data: &[u8],
        parameters: &Parameters,
    ) -> Result<(), String> {
        // A map without entries clones without allocating.
        self.0
            .send_output(output.as_str(), parameters.clone(), data)
            .map_err(|e| e.to_string())
    }
}

fn take(runtime: &mut Runtime, event: Event) {
    match event {
        Event::Input { id, data, metadata } => runtime.push_from_node(&id, data, metadata),
        Event::InputClosed { id } => runtime.close_from_node(&id),
        Event::Stop => runtime.stop(),
        Event::Error(error) => eprintln!("error: {error}"),
        // `InputRecovered` follows an `input_timeout`, which operators'
        // inputs do not have (`dora check` refuses it).
        _ => {}
    }
}

/// Runs the operators of the node that `dora run` started this process
/// as; returns whether all went well (no operator failed).
pub fn run_node() -> eyre::Result<bool> {
    run_node_with(&mut |operator, _| {
        Err(RuntimeError::Python {
            operator: operator.id.clone(),
        })
    })
}

/// [`run_node`], with `python` serving Python operators.
pub fn run_node_with(python: PythonLoader<'_>) -> eyre::Result<bool> {
    let config = NodeConfig::from_env()?;
    let dir = std::env::current_dir().wrap_err("cannot read the working folder")?;
    let published = |id: &DataId| {
        config
            .outputs
            .get(id)
            .is_some_and(|o| !o.receivers.is_empty())
    };
    // Loaded before joining, so that a library that does not load fails
    // the start with its reason.
    let mut runtime = Runtime::with_loader(
        &config.operators,
        &dir,
        config.max_restarts,
        published,
        python,
    )?;
    let (mut node, mut events) = DoraNode::init(config)?;
    let mut outlet = NodeOutlet(&mut node);
    while !runtime.is_finished() {
        if !runtime.has_ready() {
            match events.next() {
                Some(event) => take(&mut runtime, event),
                // No more events, and nothing left to run.
                None => break,
            }
        }
        // Everything that is ready competes by priority.
        while runtime.can_take_from_nodes() {
            match events.recv_timeout(Duration::ZERO) {
                Some(event) => take(&mut runtime, event),
                None => break,
            }
        }
        runtime.run_one(&mut outlet);
    }
    for line in runtime.finish() {
        println!("{line}");
    }
    Ok(!runtime.failed())
}
