//! How a machine runs work. Dataflow nodes are processes, run by the
//! supervisor in `run/`; workload replicas are containers, run by
//! [`docker`] through the machine's Docker engine. A driver for another
//! engine (a Kubernetes cluster, say) would sit beside it, taking the
//! same [`ContainerRun`](dora_core::protocol::cluster::ContainerRun).

pub mod docker;
pub mod node;
