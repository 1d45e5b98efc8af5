//! What a machine has: CPUs and memory from the OS, GPUs from NVML, and,
//! for tests and demos, simulated GPUs from a file.

use std::path::Path;

use dora_core::protocol::cluster::{Gpu, Inventory};
use eyre::{bail, WrapErr};
use serde::Deserialize;

/// Where GPUs come from. NVML is the real one; a machine without an
/// NVIDIA driver has none.
pub trait GpuProbe {
    /// The GPUs, or why they cannot be listed.
    fn gpus(&self) -> Result<Vec<Gpu>, String>;
}

/// NVIDIA's management library, loaded at run time (`libnvidia-ml.so.1`):
/// nothing of it is needed to build dora, or to run it without GPUs.
pub struct Nvml;

impl GpuProbe for Nvml {
    fn gpus(&self) -> Result<Vec<Gpu>, String> {
        use nvml_wrapper::error::NvmlError;
        let nvml = nvml_wrapper::Nvml::init().map_err(|e| match e {
            NvmlError::LibloadingError(e) => format!("no NVIDIA driver (libnvidia-ml.so.1: {e})"),
            NvmlError::DriverNotLoaded => "the NVIDIA driver is not loaded".to_owned(),
            e => format!("NVML failed: {e}"),
        })?;
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML failed: {e}"))?;
        let mut gpus = Vec::with_capacity(count as usize);
        for index in 0..count {
            let device = nvml
                .device_by_index(index)
                .map_err(|e| format!("GPU {index}: {e}"))?;
            gpus.push(Gpu {
                uuid: device.uuid().map_err(|e| format!("GPU {index}: {e}"))?,
                product_name: device.name().map_err(|e| format!("GPU {index}: {e}"))?,
                memory_bytes: device.memory_info().map(|m| m.total).unwrap_or(0),
                simulated: false,
            });
        }
        Ok(gpus)
    }
}

/// A file of simulated GPUs (`--inventory`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Simulated {
    gpus: Vec<SimulatedGpu>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SimulatedGpu {
    uuid: String,
    product_name: String,
    #[serde(default)]
    memory_bytes: u64,
}

/// This machine's inventory: the OS's CPUs and memory, `probe`'s GPUs (none,
/// said once on stderr, when it cannot list them), and the simulated GPUs
/// of `simulated`.
pub fn collect(probe: &dyn GpuProbe, simulated: Option<&Path>) -> eyre::Result<Inventory> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let mut gpus = match probe.gpus() {
        Ok(gpus) => gpus,
        Err(why) => {
            eprintln!("{why}; this machine reports 0 GPUs");
            Vec::new()
        }
    };
    if let Some(file) = simulated {
        let text = std::fs::read_to_string(file)
            .wrap_err_with(|| format!("cannot read the inventory {}", file.display()))?;
        let documents = dora_core::yaml::parse(&text)
            .map_err(|errors| eyre::eyre!("{}: {}", file.display(), errors[0].message))?;
        let Some(document) = documents.first() else {
            bail!(
                "{} is empty; write `gpus:` with a list of {{uuid, productName, memoryBytes}}",
                file.display()
            );
        };
        let simulated: Simulated = dora_core::yaml::from_value(document).map_err(|errors| {
            let errors: Vec<String> = errors
                .iter()
                .map(|error| {
                    let at = error.position.map_or(String::new(), |p| format!(":{p}"));
                    format!("{}{at}: {}", file.display(), error.message)
                })
                .collect();
            eyre::eyre!("{}", errors.join("; "))
        })?;
        gpus.extend(simulated.gpus.into_iter().map(|g| Gpu {
            uuid: g.uuid,
            product_name: g.product_name,
            memory_bytes: g.memory_bytes,
            simulated: true,
        }));
    }
    Ok(Inventory {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        cpu_model,
        memory_bytes: memory_kib * 1024,
        gpus,
        links: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoDriver;

    impl GpuProbe for NoDriver {
        fn gpus(&self) -> Result<Vec<Gpu>, String> {
            Err("no NVIDIA driver".to_owned())
        }
    }

    #[test]
    fn the_os_gives_cpus_and_memory_and_a_file_adds_simulated_gpus() {
        let file = std::env::temp_dir().join(format!("dora-inventory-{}.yml", std::process::id()));
        std::fs::write(
            &file,
            "gpus:\n  - { uuid: GPU-1, productName: Tesla V100-SXM2-16GB, memoryBytes: 17179869184 }\n",
        )
        .unwrap();
        let inventory = collect(&NoDriver, Some(&file)).unwrap();
        assert!(inventory.cpus >= 1);
        assert!(inventory.memory_bytes > 0);
        assert_eq!(inventory.gpus.len(), 1);
        assert!(inventory.gpus[0].simulated);
        assert_eq!(inventory.gpus[0].product_name, "Tesla V100-SXM2-16GB");

        std::fs::write(&file, "gpus:\n  - { uuid: GPU-1, product: x }\n").unwrap();
        let error = collect(&NoDriver, Some(&file)).unwrap_err().to_string();
        assert!(
            error.contains(":2:") && error.contains("unknown key `product`"),
            "{error}"
        );
        std::fs::remove_file(&file).unwrap();
    }

    /// On a machine with an NVIDIA driver, NVML lists its GPUs by UUID;
    /// elsewhere it says why it cannot.
    #[test]
    fn nvml_lists_the_gpus_or_says_why_not() {
        match Nvml.gpus() {
            Ok(gpus) => {
                for gpu in gpus {
                    assert!(gpu.uuid.starts_with("GPU-"), "{gpu:?}");
                    assert!(
                        !gpu.product_name.is_empty() && gpu.memory_bytes > 0,
                        "{gpu:?}"
                    );
                }
            }
            Err(why) => assert!(why.contains("NVIDIA") || why.contains("NVML"), "{why}"),
        }
    }
}
