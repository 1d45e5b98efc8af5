//! What is taken: the CPUs, GPUs and machine ports each running replica
//! holds.
//!
//! The ledger is kept per replica, not per machine, so that releasing a
//! replica that ended gives back exactly what it held and nothing else:
//! `release` removes one entry, and every GPU that entry named is free
//! again at once. A GPU, or a port of a machine, is held by at most one
//! replica: `take` refuses the second.

use std::collections::BTreeMap;
use std::fmt;

use super::{Assignment, NodePort, ReplicaId};

/// The CPUs and GPUs held by running replicas, one entry per replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    replicas: BTreeMap<ReplicaId, Assignment>,
    /// GPU UUID -> the replica that holds it.
    gpus: BTreeMap<String, ReplicaId>,
    /// (machine, port) -> the replica that holds it.
    ports: BTreeMap<(String, NodePort), ReplicaId>,
}

/// Why `Taken::take` refused an assignment; nothing was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeError {
    /// The replica already holds resources on a machine.
    ReplicaRuns { replica: ReplicaId, machine: String },
    /// The GPU is held by another replica (or listed twice).
    GpuHeld { gpu: String, holder: ReplicaId },
    /// The machine's port is held by another replica.
    PortHeld {
        machine: String,
        port: NodePort,
        holder: ReplicaId,
    },
}

impl fmt::Display for TakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TakeError::ReplicaRuns { replica, machine } => {
                write!(f, "{replica} already runs on `{machine}`")
            }
            TakeError::GpuHeld { gpu, holder } => {
                write!(f, "GPU `{gpu}` is already held by {holder}")
            }
            TakeError::PortHeld {
                machine,
                port,
                holder,
            } => write!(
                f,
                "port {} of `{machine}` is already held by {holder}",
                super::unfit::ports(&[*port])
            ),
        }
    }
}

impl std::error::Error for TakeError {}

impl Taken {
    /// Nothing taken.
    pub fn new() -> Self {
        Taken::default()
    }

    /// Records that `assignment`'s replica now holds its CPUs and GPUs.
    /// Refuses, taking nothing, a replica that already holds something or
    /// a GPU that is already held.
    pub fn take(&mut self, assignment: Assignment) -> Result<(), TakeError> {
        if let Some(held) = self.replicas.get(&assignment.replica) {
            return Err(TakeError::ReplicaRuns {
                replica: assignment.replica.clone(),
                machine: held.machine.clone(),
            });
        }
        for (i, gpu) in assignment.gpus.iter().enumerate() {
            let holder = match self.gpus.get(gpu) {
                Some(holder) => holder,
                None if assignment.gpus[..i].contains(gpu) => &assignment.replica,
                None => continue,
            };
            return Err(TakeError::GpuHeld {
                gpu: gpu.clone(),
                holder: holder.clone(),
            });
        }
        for &port in &assignment.ports {
            if let Some(holder) = self.ports.get(&(assignment.machine.clone(), port)) {
                return Err(TakeError::PortHeld {
                    machine: assignment.machine.clone(),
                    port,
                    holder: holder.clone(),
                });
            }
        }
        for gpu in &assignment.gpus {
            self.gpus.insert(gpu.clone(), assignment.replica.clone());
        }
        for &port in &assignment.ports {
            self.ports.insert(
                (assignment.machine.clone(), port),
                assignment.replica.clone(),
            );
        }
        self.replicas.insert(assignment.replica.clone(), assignment);
        Ok(())
    }

    /// Releases what `replica` held, the moment its container ended, and
    /// returns it; `None` if it held nothing.
    pub fn release(&mut self, replica: &ReplicaId) -> Option<Assignment> {
        let assignment = self.replicas.remove(replica)?;
        for gpu in &assignment.gpus {
            self.gpus.remove(gpu);
        }
        for &port in &assignment.ports {
            self.ports.remove(&(assignment.machine.clone(), port));
        }
        Some(assignment)
    }

    /// What `replica` holds.
    pub fn get(&self, replica: &ReplicaId) -> Option<&Assignment> {
        self.replicas.get(replica)
    }

    /// The replica that holds the GPU with this UUID.
    pub fn holder_of(&self, gpu: &str) -> Option<&ReplicaId> {
        self.gpus.get(gpu)
    }

    /// Every holding, by replica.
    pub fn iter(&self) -> impl Iterator<Item = &Assignment> {
        self.replicas.values()
    }

    /// How many replicas hold something.
    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    /// Whether nothing is taken.
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(workload: &str, index: u32, machine: &str, gpus: &[&str]) -> Assignment {
        Assignment {
            replica: ReplicaId::new(workload, index),
            machine: machine.to_owned(),
            gpus: gpus.iter().map(|g| (*g).to_owned()).collect(),
            cpus: 2,
            ports: vec![],
        }
    }

    #[test]
    fn release_gives_back_exactly_what_the_replica_held() {
        let mut taken = Taken::new();
        taken
            .take(assignment("a", 0, "m1", &["GPU-1", "GPU-2"]))
            .unwrap();
        taken.take(assignment("b", 0, "m1", &["GPU-3"])).unwrap();
        let released = taken.release(&ReplicaId::new("a", 0)).unwrap();
        assert_eq!(released.gpus, ["GPU-1", "GPU-2"]);
        assert_eq!(taken.holder_of("GPU-1"), None);
        assert_eq!(taken.holder_of("GPU-2"), None);
        assert_eq!(taken.holder_of("GPU-3"), Some(&ReplicaId::new("b", 0)));
        assert_eq!(taken.len(), 1);
        assert_eq!(taken.release(&ReplicaId::new("a", 0)), None);
        // The released GPUs can be given again at once.
        taken.take(assignment("c", 0, "m1", &["GPU-2"])).unwrap();
        assert_eq!(taken.holder_of("GPU-2"), Some(&ReplicaId::new("c", 0)));
    }

    #[test]
    fn a_gpu_is_never_held_twice_and_a_refusal_takes_nothing() {
        let mut taken = Taken::new();
        taken.take(assignment("a", 0, "m1", &["GPU-1"])).unwrap();
        let error = taken
            .take(assignment("b", 0, "m1", &["GPU-2", "GPU-1"]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "GPU `GPU-1` is already held by replica 0 of `a`"
        );
        assert_eq!(taken.holder_of("GPU-2"), None);
        assert_eq!(taken.len(), 1);
        let error = taken
            .take(assignment("c", 0, "m1", &["GPU-5", "GPU-5"]))
            .unwrap_err();
        assert!(matches!(error, TakeError::GpuHeld { .. }), "{error}");
        assert_eq!(taken.holder_of("GPU-5"), None);
    }

    #[test]
    fn a_replica_holds_one_place_at_a_time() {
        let mut taken = Taken::new();
        taken.take(assignment("a", 0, "m1", &[])).unwrap();
        let error = taken.take(assignment("a", 0, "m2", &[])).unwrap_err();
        assert_eq!(error.to_string(), "replica 0 of `a` already runs on `m1`");
        assert_eq!(taken.get(&ReplicaId::new("a", 0)).unwrap().machine, "m1");
    }
}
