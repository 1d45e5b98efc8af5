use super::*;
use dora_core::selector::{ProductName, Selector};

mod properties;

const V100: &str = "Tesla V100-SXM2-16GB";
const RTX: &str = "Quadro RTX 6000";

fn machine(name: &str, zone: &str, gpus: &[(&str, &str)]) -> Machine {
    Machine {
        name: name.to_owned(),
        zone: zone.to_owned(),
        ready: true,
        unschedulable: false,
        cpus: 16,
        cpu_model: "Xeon".to_owned(),
        gpus: gpus
            .iter()
            .map(|(uuid, product)| Gpu {
                uuid: (*uuid).to_owned(),
                product: (*product).to_owned(),
            })
            .collect(),
    }
}

fn selector(product_name: ProductName, count: u32) -> Option<Selector> {
    Some(Selector {
        product_name,
        count,
    })
}

fn one(name: &str) -> ProductName {
    ProductName::AnyOf(vec![name.to_owned()])
}

fn gpus(name: &str, product_name: ProductName, count: u32, replicas: u32) -> WorkloadRequest {
    WorkloadRequest {
        name: name.to_owned(),
        zone: "dc-1".to_owned(),
        selectors: Selectors {
            cpu: None,
            gpu: selector(product_name, count),
        },
        affinity: Affinity::Distribute,
        replicas: (0..replicas).collect(),
        ports: vec![],
    }
}

fn cpus(name: &str, count: u32, replicas: u32, affinity: Affinity) -> WorkloadRequest {
    WorkloadRequest {
        name: name.to_owned(),
        zone: "dc-1".to_owned(),
        selectors: Selectors {
            cpu: selector(ProductName::All, count),
            gpu: None,
        },
        affinity,
        replicas: (0..replicas).collect(),
        ports: vec![],
    }
}

/// (replica index, machine) of each assignment.
fn machines_of(placement: &Placement) -> Vec<(u32, &str)> {
    placement
        .assignments
        .iter()
        .map(|a| (a.replica.index, a.machine.as_str()))
        .collect()
}

fn reasons(placement: &Placement) -> Vec<String> {
    placement
        .unplaced
        .iter()
        .map(|u| format!("{}: {}", u.replica, u.reason))
        .collect()
}

#[test]
fn gpus_are_given_by_uuid_and_never_twice() {
    let machines = [machine(
        "gpu-1",
        "dc-1",
        &[("GPU-a", V100), ("GPU-b", V100)],
    )];
    let placed = place(&[gpus("w", one(V100), 1, 3)], &machines, &Taken::new());
    let given: Vec<&[String]> = placed.assignments.iter().map(|a| &a.gpus[..]).collect();
    assert_eq!(given, [["GPU-a"], ["GPU-b"]]);
    assert_eq!(
        reasons(&placed),
        ["replica 2 of `w`: 0 of 1 Ready machine in zone `dc-1` has 1 free `Tesla V100-SXM2-16GB`; none has any free"]
    );
}

#[test]
fn a_taken_gpu_is_skipped_by_uuid_not_by_index() {
    let machines = [machine(
        "gpu-1",
        "dc-1",
        &[("GPU-a", V100), ("GPU-b", V100)],
    )];
    let mut taken = Taken::new();
    taken
        .take(Assignment {
            replica: ReplicaId::new("other", 0),
            machine: "gpu-1".to_owned(),
            gpus: vec!["GPU-a".to_owned()],
            cpus: 0,
            ports: vec![],
        })
        .unwrap();
    let placed = place(&[gpus("w", one(V100), 1, 1)], &machines, &taken);
    assert_eq!(placed.assignments[0].gpus, ["GPU-b"]);
}

#[test]
fn a_released_gpu_is_given_again_at_once() {
    let machines = [machine("gpu-1", "dc-1", &[("GPU-a", V100)])];
    let mut taken = Taken::new();
    let first = place(&[gpus("a", one(V100), 1, 1)], &machines, &taken);
    taken.take(first.assignments[0].clone()).unwrap();
    let refused = place(&[gpus("b", one(V100), 1, 1)], &machines, &taken);
    assert!(refused.assignments.is_empty(), "{refused:?}");
    taken.release(&ReplicaId::new("a", 0)).unwrap();
    let again = place(&[gpus("b", one(V100), 1, 1)], &machines, &taken);
    assert_eq!(again.assignments[0].gpus, ["GPU-a"]);
}

#[test]
fn the_reason_says_how_many_machines_fit_and_which_comes_closest() {
    let machines = [
        machine("gpu-1", "dc-1", &[("GPU-1", V100)]),
        machine("gpu-2", "dc-1", &[("GPU-2", RTX), ("GPU-3", RTX)]),
        machine("cpu-1", "dc-1", &[]),
        machine("gpu-9", "dc-2", &[("GPU-9", V100), ("GPU-10", V100)]),
    ];
    let placed = place(&[gpus("w", one(V100), 2, 1)], &machines, &Taken::new());
    assert_eq!(
        placed.unplaced[0].reason.to_string(),
        "0 of 3 Ready machines in zone `dc-1` have 2 free `Tesla V100-SXM2-16GB`; `gpu-1` has 1 free"
    );
}

#[test]
fn the_closest_machine_is_the_least_short_of_what_it_lacks_most() {
    let mut machines = [
        machine("a", "dc-1", &[("G1", V100), ("G2", V100)]),
        machine("b", "dc-1", &[("G3", V100)]),
    ];
    machines[0].cpus = 6;
    let mut request = gpus("w", one(V100), 2, 1);
    request.selectors.cpu = selector(ProductName::All, 8);
    let placed = place(&[request], &machines, &Taken::new());
    assert_eq!(
        reasons(&placed),
        ["replica 0 of `w`: 0 of 2 Ready machines in zone `dc-1` have 2 free `Tesla V100-SXM2-16GB` and 8 free CPUs; `a` has 2 free GPUs and 6 free CPUs"]
    );
}

#[test]
fn a_list_of_products_accepts_each_and_prefers_one_product_per_replica() {
    let machines = [machine(
        "gpu-1",
        "dc-1",
        &[("GPU-1", V100), ("GPU-2", RTX), ("GPU-3", RTX)],
    )];
    let list = ProductName::AnyOf(vec![V100.to_owned(), RTX.to_owned()]);
    let placed = place(&[gpus("w", list, 2, 1)], &machines, &Taken::new());
    assert_eq!(placed.assignments[0].gpus, ["GPU-2", "GPU-3"]);
    let placed = place(
        &[gpus("w", ProductName::All, 3, 1)],
        &machines,
        &Taken::new(),
    );
    assert_eq!(placed.assignments[0].gpus, ["GPU-1", "GPU-2", "GPU-3"]);
}

#[test]
fn the_first_product_of_each_list_is_preferred() {
    let machines = [machine(
        "gpu-1",
        "dc-1",
        &[("G1", V100), ("G2", V100), ("G3", RTX), ("G4", RTX)],
    )];
    let requests = [
        gpus(
            "a",
            ProductName::AnyOf(vec![RTX.to_owned(), V100.to_owned()]),
            2,
            1,
        ),
        gpus(
            "b",
            ProductName::AnyOf(vec![V100.to_owned(), RTX.to_owned()]),
            2,
            1,
        ),
    ];
    let placed = place(&requests, &machines, &Taken::new());
    assert_eq!(placed.assignments[0].gpus, ["G3", "G4"]);
    assert_eq!(placed.assignments[1].gpus, ["G1", "G2"]);
}

#[test]
fn distribute_spreads_replicas_and_pack_fills_one_machine_first() {
    let machines = [
        machine("m1", "dc-1", &[]),
        machine("m2", "dc-1", &[]),
        machine("m3", "dc-1", &[]),
    ];
    let spread = place(
        &[cpus("w", 4, 3, Affinity::Distribute)],
        &machines,
        &Taken::new(),
    );
    assert_eq!(machines_of(&spread), [(0, "m1"), (1, "m2"), (2, "m3")]);
    let packed = place(&[cpus("w", 4, 5, Affinity::Pack)], &machines, &Taken::new());
    assert_eq!(
        machines_of(&packed),
        [(0, "m1"), (1, "m1"), (2, "m1"), (3, "m1"), (4, "m2")]
    );
}

#[test]
fn distribute_stacks_only_when_every_machine_holds_one() {
    let machines = [machine("m1", "dc-1", &[]), machine("m2", "dc-1", &[])];
    let placed = place(
        &[cpus("w", 1, 5, Affinity::Distribute)],
        &machines,
        &Taken::new(),
    );
    assert_eq!(
        machines_of(&placed),
        [(0, "m1"), (1, "m2"), (2, "m1"), (3, "m2"), (4, "m1")]
    );
}

#[test]
fn distribute_counts_the_replicas_already_running() {
    let machines = [machine("m1", "dc-1", &[]), machine("m2", "dc-1", &[])];
    let mut taken = Taken::new();
    taken
        .take(Assignment {
            replica: ReplicaId::new("w", 0),
            machine: "m1".to_owned(),
            gpus: Vec::new(),
            cpus: 1,
            ports: vec![],
        })
        .unwrap();
    let mut request = cpus("w", 1, 2, Affinity::Distribute);
    request.replicas = vec![1];
    let placed = place(&[request], &machines, &taken);
    assert_eq!(machines_of(&placed), [(1, "m2")]);
}

#[test]
fn pack_joins_the_machine_that_already_runs_the_workload() {
    let machines = [machine("m1", "dc-1", &[]), machine("m2", "dc-1", &[])];
    let mut taken = Taken::new();
    taken
        .take(Assignment {
            replica: ReplicaId::new("w", 0),
            machine: "m2".to_owned(),
            gpus: Vec::new(),
            cpus: 4,
            ports: vec![],
        })
        .unwrap();
    let mut request = cpus("w", 4, 2, Affinity::Pack);
    request.replicas = vec![1];
    let placed = place(&[request], &machines, &taken);
    assert_eq!(machines_of(&placed), [(1, "m2")]);
}

#[test]
fn pack_does_not_join_a_machine_that_went_not_ready() {
    let mut machines = [machine("m1", "dc-1", &[]), machine("m2", "dc-1", &[])];
    let mut taken = Taken::new();
    taken
        .take(Assignment {
            replica: ReplicaId::new("w", 0),
            machine: "m1".to_owned(),
            gpus: Vec::new(),
            cpus: 4,
            ports: vec![],
        })
        .unwrap();
    machines[0].ready = false;
    let mut request = cpus("w", 4, 2, Affinity::Pack);
    request.replicas = vec![1];
    let placed = place(&[request], &machines, &taken);
    assert_eq!(machines_of(&placed), [(1, "m2")]);
}

#[test]
fn nothing_lands_on_a_not_ready_or_unschedulable_machine() {
    let mut machines = [
        machine("m1", "dc-1", &[]),
        machine("m2", "dc-1", &[]),
        machine("m3", "dc-1", &[]),
    ];
    machines[0].ready = false;
    machines[1].unschedulable = true;
    let placed = place(
        &[cpus("w", 1, 2, Affinity::Distribute)],
        &machines,
        &Taken::new(),
    );
    assert_eq!(machines_of(&placed), [(0, "m3"), (1, "m3")]);
    machines[2].ready = false;
    let placed = place(
        &[cpus("w", 1, 1, Affinity::Distribute)],
        &machines,
        &Taken::new(),
    );
    assert_eq!(
        reasons(&placed),
        ["replica 0 of `w`: none of the 3 machines in zone `dc-1` is Ready and schedulable (2 NotReady, 1 unschedulable)"]
    );
}

#[test]
fn a_replica_stays_in_its_zone() {
    let machines = [machine("m1", "dc-2", &[])];
    let placed = place(&[cpus("w", 1, 1, Affinity::Pack)], &machines, &Taken::new());
    assert_eq!(
        reasons(&placed),
        ["replica 0 of `w`: zone `dc-1` has no machine; join one with `dora daemon`"]
    );
}

#[test]
fn cpus_of_another_model_do_not_count() {
    let machines = [machine("m1", "dc-1", &[])];
    let mut request = cpus("w", 2, 1, Affinity::Pack);
    request.selectors.cpu = selector(one("EPYC"), 2);
    let placed = place(&[request], &machines, &Taken::new());
    assert_eq!(
        reasons(&placed),
        ["replica 0 of `w`: 0 of 1 Ready machine in zone `dc-1` has 2 free `EPYC`; none has any free"]
    );
}

#[test]
fn a_replica_that_runs_or_is_asked_twice_is_placed_once() {
    let machines = [machine("m1", "dc-1", &[])];
    let mut taken = Taken::new();
    taken
        .take(Assignment {
            replica: ReplicaId::new("w", 0),
            machine: "m1".to_owned(),
            gpus: Vec::new(),
            cpus: 1,
            ports: vec![],
        })
        .unwrap();
    let mut request = cpus("w", 1, 1, Affinity::Pack);
    request.replicas = vec![0, 1, 1];
    let placed = place(&[request], &machines, &taken);
    assert_eq!(machines_of(&placed), [(1, "m1")]);
    assert_eq!(
        reasons(&placed),
        [
            "replica 0 of `w`: it already runs on `m1`",
            "replica 1 of `w`: it already runs on `m1`"
        ]
    );
}

#[test]
fn a_uuid_reported_by_two_machines_is_given_once() {
    let machines = [
        machine("m1", "dc-1", &[("GPU-same", V100)]),
        machine("m2", "dc-1", &[("GPU-same", V100)]),
    ];
    let placed = place(&[gpus("w", one(V100), 1, 2)], &machines, &Taken::new());
    assert_eq!(placed.assignments.len(), 1, "{placed:?}");
    assert_eq!(placed.unplaced.len(), 1, "{placed:?}");
}

#[test]
fn a_request_is_made_from_a_workload_resource() {
    use dora_core::resource::{Resource, Spec};
    let yaml = format!(
        "apiVersion: v1\nkind: Workload\nmetadata:\n  zone: dc-1\n  name: train\nspec:\n  replica:\n    count: 2\n  driver: Docker\n  selectors:\n    gpu:\n      product_name: [{RTX}, {V100}]\n      count: 2\n  image:\n    image: ubuntu\n  config:\n    cmd: /bin/bash\n    affinity: Pack\n"
    );
    let resources = Resource::from_yaml_str(&yaml).unwrap();
    let Spec::Workload(spec) = &resources[0].spec else {
        panic!("{resources:?}")
    };
    let request = WorkloadRequest::new("train", resources[0].metadata.zone(), spec);
    assert_eq!(request.replicas, [0, 1]);
    assert_eq!(request.affinity, Affinity::Pack);
    let machines = [
        machine("a", "dc-1", &[("G1", V100), ("G2", V100)]),
        machine(
            "b",
            "dc-1",
            &[("G3", RTX), ("G4", RTX), ("G5", V100), ("G6", V100)],
        ),
    ];
    let placed = place(&[request], &machines, &Taken::new());
    assert_eq!(machines_of(&placed), [(0, "b"), (1, "b")]);
    assert_eq!(placed.assignments[0].gpus, ["G3", "G4"]);
    assert_eq!(placed.assignments[1].gpus, ["G5", "G6"]);
}

#[test]
fn the_order_of_the_machines_does_not_change_the_result() {
    let mut machines = vec![
        machine("m2", "dc-1", &[("G2", V100)]),
        machine("m1", "dc-1", &[("G1", V100)]),
        machine("m3", "dc-1", &[("G3", V100), ("G4", V100)]),
    ];
    let requests = [gpus("w", one(V100), 1, 3)];
    let placed = place(&requests, &machines, &Taken::new());
    assert_eq!(machines_of(&placed), [(0, "m3"), (1, "m1"), (2, "m2")]);
    machines.reverse();
    assert_eq!(place(&requests, &machines, &Taken::new()), placed);
}

#[test]
fn a_machine_port_is_given_to_one_replica_per_machine_and_freed_with_it() {
    use dora_core::resource::Protocol;
    let machines = [machine("m1", "dc-1", &[]), machine("m2", "dc-1", &[])];
    let web = |name: &str, replicas: u32, affinity: Affinity| WorkloadRequest {
        ports: vec![(Protocol::Tcp, 8080)],
        ..cpus(name, 1, replicas, affinity)
    };
    // Pack cannot stack replicas that open the same port.
    let placed = place(&[web("web", 3, Affinity::Pack)], &machines, &Taken::new());
    assert_eq!(machines_of(&placed), [(0, "m1"), (1, "m2")]);
    let reason = placed.unplaced[0].reason.to_string();
    assert_eq!(
        reason,
        "every Ready machine in zone `dc-1` with room for it already has machine port 8080/tcp taken; use another `nodePort`, or free it"
    );
    // Another workload with the port waits until a holder ends.
    let mut taken = Taken::new();
    for assignment in placed.assignments {
        assert_eq!(assignment.ports, [(Protocol::Tcp, 8080)]);
        taken.take(assignment).unwrap();
    }
    let other = web("other", 1, Affinity::Distribute);
    assert!(place(std::slice::from_ref(&other), &machines, &taken)
        .assignments
        .is_empty());
    // The same number over UDP is another port.
    let udp = WorkloadRequest {
        ports: vec![(Protocol::Udp, 8080)],
        ..other.clone()
    };
    assert_eq!(place(&[udp], &machines, &taken).assignments.len(), 1);
    taken.release(&ReplicaId::new("web", 1)).unwrap();
    let placed = place(&[other], &machines, &taken);
    assert_eq!(machines_of(&placed), [(0, "m2")]);
    // Taken refuses a second holder of a port.
    let clash = Assignment {
        replica: ReplicaId::new("clash", 0),
        machine: "m1".to_owned(),
        gpus: vec![],
        cpus: 0,
        ports: vec![(Protocol::Tcp, 8080)],
    };
    assert!(matches!(taken.take(clash), Err(TakeError::PortHeld { .. })));
}
