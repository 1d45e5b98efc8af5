//! The documented defaults, as users rely on them.

use dora_core::descriptor::{
    Dataflow, Driver, Hertz, InputSource, QueuePolicy, RestartPolicy, TimerInterval,
};
use dora_core::resource::{
    Affinity, NetworkMode, Protocol, PullPolicy, Resource, Spec, WorkloadRestartPolicy,
};
use dora_core::selector::ProductName;

#[test]
fn a_node_with_only_id_and_path_gets_every_default() {
    let dataflow = Dataflow::from_yaml_str(
        "nodes:\n  - id: a\n    path: a\n    outputs: [x]\n  - id: b\n    path: b\n    inputs:\n      x: a/x\n      t: dora/timer/hz/10\n",
    )
    .unwrap();
    let b = dataflow.node("b").unwrap();
    assert_eq!(b.restart_policy, RestartPolicy::Never);
    assert_eq!(b.max_restarts, 5);
    assert_eq!(b.restart_delay.to_string(), "100ms");
    assert_eq!(b.max_restart_delay.to_string(), "30s");
    assert_eq!(b.driver, Driver::Process);
    assert!(b.args.is_empty() && b.env.is_empty() && b.cpu_affinity.is_empty());
    assert_eq!(b.deploy, Default::default());
    let x = &b.inputs["x"];
    assert_eq!(
        (x.queue_size, x.queue_policy, x.deadline),
        (10, QueuePolicy::DropOldest, None)
    );
    assert_eq!(
        b.inputs["t"].source,
        InputSource::Timer(TimerInterval::Hz(Hertz::new(10.0).unwrap()))
    );
}

#[test]
fn args_split_like_a_shell_and_env_keeps_text() {
    let dataflow = Dataflow::from_yaml_str(
        "nodes:\n  - id: a\n    path: a\n    args: --name \"left camera\" -v\n    env:\n      VERSION: 3.10\n      DEBUG: true\n      NAME: cam\n",
    )
    .unwrap();
    let a = &dataflow.nodes[0];
    assert_eq!(a.args.0, ["--name", "left camera", "-v"]);
    assert_eq!(a.env["VERSION"].0, "3.10");
    assert_eq!(a.env["DEBUG"].0, "true");
}

#[test]
fn empty_args_are_no_args() {
    let dataflow = Dataflow::from_yaml_str("nodes:\n  - id: a\n    path: a\n    args:\n").unwrap();
    assert!(dataflow.nodes[0].args.is_empty());
}

#[test]
fn a_minimal_workload_gets_every_default() {
    let resources = Resource::from_yaml_str(
        "apiVersion: v1\nkind: Workload\nmetadata:\n  name: w\nspec:\n  driver: Docker\n  selectors: {}\n  image:\n    image: ubuntu\n  config:\n    cmd: /bin/bash\n",
    )
    .unwrap();
    let resource = &resources[0];
    assert_eq!(resource.metadata.zone(), "default");
    assert_eq!(resource.metadata.workspace_or("ada"), "ada");
    let Spec::Workload(w) = &resource.spec else {
        panic!("not a workload: {:?}", resource.spec)
    };
    assert_eq!(w.replica.count, 1);
    assert_eq!(w.image.pull_policy, PullPolicy::IfNotPresent);
    assert_eq!(w.config.restart_policy, WorkloadRestartPolicy::Never);
    assert_eq!(w.config.affinity, Affinity::Distribute);
    assert_eq!(w.config.shm_size, None);
    assert!(!w.notify.by_email);
    assert_eq!(w.network.mode, NetworkMode::Bridge);
    assert!(w.volumes.is_empty() && w.network.ports.is_empty());
}

#[test]
fn the_complete_workload_example_reads_into_types() {
    let text = std::fs::read_to_string("../examples/cluster/workload.yml").unwrap();
    let resources = Resource::from_yaml_str(&text).unwrap();
    let m = &resources[0].metadata;
    assert_eq!(
        (m.zone(), m.workspace.as_deref()),
        ("dc-rov-01", Some("amedeo.setti")),
        "`group` is read as the workspace"
    );
    let Spec::Workload(w) = &resources[0].spec else {
        panic!()
    };
    assert_eq!(w.replica.count, 2);
    let gpu = w.selectors.gpu.as_ref().unwrap();
    assert_eq!(gpu.count, 2);
    assert!(gpu.product_name.accepts("Tesla V100-SXM2-16GB") && !gpu.product_name.accepts("A100"));
    assert_eq!(w.image.pull_policy, PullPolicy::Always);
    assert_eq!(w.config.restart_policy, WorkloadRestartPolicy::Always);
    assert_eq!(w.config.shm_size, Some(1_000_000_000));
    assert_eq!(w.volumes[1].workspace.as_deref(), Some("datasets"));
    let port = &w.network.ports[0];
    assert_eq!(
        (port.protocol, port.node_port, port.port),
        (Protocol::Tcp, 25000, 8008)
    );
    assert_eq!(w.selectors.cpu, None);
    assert_eq!(ProductName::default(), ProductName::All);
}

#[test]
fn several_resources_in_one_file() {
    let text = std::fs::read_to_string("../examples/cluster/resources.yml").unwrap();
    let kinds: Vec<String> = Resource::from_yaml_str(&text)
        .unwrap()
        .iter()
        .map(|r| r.kind.to_string())
        .collect();
    assert_eq!(
        kinds,
        ["User", "Role", "Node", "Storage", "Credit", "Volume"]
    );
}
