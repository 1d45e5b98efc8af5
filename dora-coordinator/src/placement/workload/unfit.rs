//! Why a replica does not fit, worded for the person who asked for it.

use std::fmt;

use dora_core::selector::{ProductName, Selector, Selectors};

/// Why a replica was not placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// The replica already runs, or was placed earlier in the same call.
    AlreadyPlaced { machine: String },
    /// The zone has no machine at all.
    NoMachineInZone { zone: String },
    /// Every machine of the zone is NotReady or unschedulable.
    NoReadyMachine {
        zone: String,
        not_ready: usize,
        unschedulable: usize,
    },
    /// No Ready machine has what one replica needs free.
    NotEnoughFree {
        zone: String,
        /// What one replica needs: "2 free `Tesla V100-SXM2-16GB`".
        need: String,
        /// Ready, schedulable machines of the zone.
        ready: usize,
        /// Machines of the zone that are NotReady or unschedulable.
        others: usize,
        /// The Ready machine that comes closest, if any has something free.
        closest: Option<Closest>,
    },
    /// Every Ready machine with room for the replica holds one of the
    /// machine ports it opens.
    PortsTaken { zone: String, ports: String },
}

/// The machine that comes closest to what a replica needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closest {
    pub machine: String,
    /// Free GPUs of an accepted product, when GPUs are asked for.
    pub gpus: Option<u32>,
    /// Free CPUs of an accepted model, when CPUs are asked for.
    pub cpus: Option<u32>,
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::AlreadyPlaced { machine } => write!(f, "it already runs on `{machine}`"),
            Unfit::PortsTaken { zone, ports } => write!(
                f,
                "every Ready machine in zone `{zone}` with room for it already has machine port {ports} taken; use another `nodePort`, or free it"
            ),
            Unfit::NoMachineInZone { zone } => write!(
                f,
                "zone `{zone}` has no machine; join one with `dora daemon`"
            ),
            Unfit::NoReadyMachine {
                zone,
                not_ready,
                unschedulable,
            } => write!(
                f,
                "none of the {} machines in zone `{zone}` is Ready and schedulable ({not_ready} NotReady, {unschedulable} unschedulable)",
                not_ready + unschedulable
            ),
            Unfit::NotEnoughFree {
                zone,
                need,
                ready,
                others,
                closest,
            } => {
                let machines = if *ready == 1 { "machine" } else { "machines" };
                let verb = if *ready == 1 { "has" } else { "have" };
                write!(f, "0 of {ready} Ready {machines} in zone `{zone}` {verb} {need}")?;
                match closest {
                    Some(Closest {
                        machine,
                        gpus: Some(gpus),
                        cpus: None,
                    }) => write!(f, "; `{machine}` has {gpus} free")?,
                    Some(Closest {
                        machine,
                        gpus: None,
                        cpus: Some(cpus),
                    }) => write!(f, "; `{machine}` has {cpus} free")?,
                    Some(Closest {
                        machine,
                        gpus: Some(gpus),
                        cpus: Some(cpus),
                    }) => write!(
                        f,
                        "; `{machine}` has {gpus} free GPU{} and {cpus} free CPU{}",
                        plural(*gpus),
                        plural(*cpus)
                    )?,
                    _ if *ready > 0 => write!(f, "; none has any free")?,
                    _ => {}
                }
                if *others > 0 {
                    let is = if *others == 1 { "is" } else { "are" };
                    write!(f, " ({others} more {is} NotReady or unschedulable)")?;
                }
                Ok(())
            }
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// What one replica needs, as in "have 2 free `Tesla V100-SXM2-16GB` and
/// 4 free CPUs".
pub(super) fn need(selectors: &Selectors) -> String {
    let gpu = selectors
        .gpu
        .as_ref()
        .filter(|s| s.count > 0)
        .map(|s| devices(s, "GPU"));
    let cpu = selectors
        .cpu
        .as_ref()
        .filter(|s| s.count > 0)
        .map(|s| devices(s, "CPU"));
    match (gpu, cpu) {
        (Some(gpu), Some(cpu)) => format!("{gpu} and {cpu}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "room".to_owned(),
    }
}

/// "2 free `Tesla V100-SXM2-16GB`", "1 free GPU", "4 free CPUs of `A` or `B`".
fn devices(selector: &Selector, what: &str) -> String {
    let count = selector.count;
    let s = plural(count);
    match &selector.product_name {
        ProductName::All => format!("{count} free {what}{s}"),
        ProductName::AnyOf(names) => match names.as_slice() {
            [] => {
                format!("{count} free {what}{s} of no product (the list of product names is empty)")
            }
            [one] => format!("{count} free `{one}`"),
            many => {
                let names: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
                format!("{count} free {what}{s} of {}", names.join(" or "))
            }
        },
    }
}

/// Ports as a person reads them: `25000/tcp and 25001/udp`.
pub(super) fn ports(ports: &[super::NodePort]) -> String {
    let words: Vec<String> = ports
        .iter()
        .map(|(protocol, port)| {
            let protocol = match protocol {
                dora_core::resource::Protocol::Tcp => "tcp",
                dora_core::resource::Protocol::Udp => "udp",
            };
            format!("{port}/{protocol}")
        })
        .collect();
    match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_the_need_and_the_closest_machine() {
        let unfit = Unfit::NotEnoughFree {
            zone: "dc-1".to_owned(),
            need: "2 free `Tesla V100-SXM2-16GB`".to_owned(),
            ready: 3,
            others: 0,
            closest: Some(Closest {
                machine: "gpu-1".to_owned(),
                gpus: Some(1),
                cpus: None,
            }),
        };
        assert_eq!(
            unfit.to_string(),
            "0 of 3 Ready machines in zone `dc-1` have 2 free `Tesla V100-SXM2-16GB`; `gpu-1` has 1 free"
        );
    }

    #[test]
    fn a_need_reads_as_counts_and_product_names() {
        let selectors: Selectors = serde_json::from_value(serde_json::json!({
            "gpu": { "product_name": ["Quadro RTX 6000", "Tesla V100-SXM2-16GB"], "count": 2 },
            "cpu": { "product_name": "All", "count": 1 },
        }))
        .unwrap();
        assert_eq!(
            need(&selectors),
            "2 free GPUs of `Quadro RTX 6000` or `Tesla V100-SXM2-16GB` and 1 free CPU"
        );
        assert_eq!(need(&Selectors::default()), "room");
    }
}
