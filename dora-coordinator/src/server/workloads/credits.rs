//! Credits: how many GPU-hours and CPU-hours a workspace may use in a
//! zone. Use is counted from each replica's time `Running` times its GPUs
//! and its CPUs, and charged to the workspace's Credit resources (in
//! their `status.usedGpuHours` and `status.usedCpuHours`), the first by
//! name that has hours left first. A kind of hour that no Credit of the
//! workspace limits is not limited; a workspace with no Credit at all is
//! not limited.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use dora_core::resource::Kind;
use serde_json::{json, Value as Json};

use super::super::error::ApiError;
use super::super::{keys, Shared};

const MS_PER_HOUR: f64 = 3_600_000.0;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One Credit resource.
struct Credit {
    key: String,
    gpu_hours: Option<f64>,
    cpu_hours: Option<f64>,
    used_gpu: f64,
    used_cpu: f64,
    changed: bool,
}

/// The kinds of hour.
#[derive(Clone, Copy)]
enum Hours {
    Gpu,
    Cpu,
}

impl Credit {
    fn limit(&self, hours: Hours) -> Option<f64> {
        match hours {
            Hours::Gpu => self.gpu_hours,
            Hours::Cpu => self.cpu_hours,
        }
    }

    fn used(&mut self, hours: Hours) -> &mut f64 {
        match hours {
            Hours::Gpu => &mut self.used_gpu,
            Hours::Cpu => &mut self.used_cpu,
        }
    }
}

/// The credits of every workspace, by (zone, workspace).
pub struct Credits {
    workspaces: BTreeMap<(String, String), Vec<Credit>>,
}

impl Credits {
    pub fn load(shared: &Shared) -> Result<Credits, ApiError> {
        let mut workspaces: BTreeMap<(String, String), Vec<Credit>> = BTreeMap::new();
        for credit in shared.store.list(&format!("{}/", Kind::Credit))? {
            let metadata = &credit["metadata"];
            let (Some(zone), Some(name)) = (metadata["zone"].as_str(), metadata["name"].as_str())
            else {
                continue;
            };
            let spec = &credit["spec"];
            let workspace = spec["workspace"].as_str().unwrap_or_default().to_owned();
            workspaces
                .entry((zone.to_owned(), workspace))
                .or_default()
                .push(Credit {
                    key: keys::key(Kind::Credit, Some(zone), None, name),
                    gpu_hours: spec["gpuHours"].as_f64(),
                    cpu_hours: spec["cpuHours"].as_f64(),
                    used_gpu: credit["status"]["usedGpuHours"].as_f64().unwrap_or(0.0),
                    used_cpu: credit["status"]["usedCpuHours"].as_f64().unwrap_or(0.0),
                    changed: false,
                });
        }
        Ok(Credits { workspaces })
    }

    /// Hours of `hours` left to the workspace: `None` when not limited.
    fn left(&self, zone: &str, workspace: &str, hours: Hours) -> Option<(f64, f64)> {
        let credits = self
            .workspaces
            .get(&(zone.to_owned(), workspace.to_owned()))?;
        let mut limited = false;
        let (mut granted, mut used) = (0.0, 0.0);
        for credit in credits {
            if let Some(limit) = credit.limit(hours) {
                limited = true;
                granted += limit;
            }
            used += match hours {
                Hours::Gpu => credit.used_gpu,
                Hours::Cpu => credit.used_cpu,
            };
        }
        limited.then_some((granted, used))
    }

    /// Why a replica of the workspace that uses GPUs (`gpus`) and CPUs
    /// (`cpus`) may not run now: its workspace has used all of a kind of
    /// hour it needs.
    pub fn exhausted(&self, zone: &str, workspace: &str, gpus: bool, cpus: bool) -> Option<String> {
        for (uses, hours, word) in [(gpus, Hours::Gpu, "GPU"), (cpus, Hours::Cpu, "CPU")] {
            if !uses {
                continue;
            }
            if let Some((granted, used)) = self.left(zone, workspace, hours) {
                if used >= granted {
                    return Some(format!(
                        "workspace `{workspace}` has used {used:.3} of its {granted} {word}-hours in zone `{zone}`; add credit (a Credit resource) to run it"
                    ));
                }
            }
        }
        None
    }

    /// Charges use to the workspace's credits.
    pub fn charge(&mut self, zone: &str, workspace: &str, gpu_hours: f64, cpu_hours: f64) {
        let Some(credits) = self
            .workspaces
            .get_mut(&(zone.to_owned(), workspace.to_owned()))
        else {
            return;
        };
        for (amount, hours) in [(gpu_hours, Hours::Gpu), (cpu_hours, Hours::Cpu)] {
            if amount <= 0.0 || credits.is_empty() {
                continue;
            }
            // The first (by name) with hours of this kind left, else the
            // first that limits them, else the first.
            let index = credits
                .iter_mut()
                .position(|c| c.limit(hours).is_some_and(|l| *c.used(hours) < l))
                .or_else(|| credits.iter().position(|c| c.limit(hours).is_some()))
                .unwrap_or(0);
            let credit = &mut credits[index];
            *credit.used(hours) += amount;
            credit.changed = true;
        }
    }

    /// Records the use charged since loading.
    pub fn save(&self, shared: &Shared) -> Result<(), ApiError> {
        for credit in self.workspaces.values().flatten().filter(|c| c.changed) {
            let mut fields = serde_json::Map::new();
            fields.insert("usedGpuHours".to_owned(), json!(credit.used_gpu));
            fields.insert("usedCpuHours".to_owned(), json!(credit.used_cpu));
            if let Some(change) = shared.store.update_status(&credit.key, &fields)? {
                shared.publish(vec![change]);
            }
        }
        Ok(())
    }
}

/// The use of a `Running` replica since it was last counted, up to
/// `now` (ms): GPU-hours and CPU-hours, and the status fields that
/// record it on the replica.
pub fn accrue(container: &Json, now: u64) -> (f64, f64, Json) {
    let status = &container["status"];
    let from = status["accountedAt"]
        .as_u64()
        .max(status["runningSince"].as_u64())
        .unwrap_or(now);
    let hours = now.saturating_sub(from) as f64 / MS_PER_HOUR;
    let gpus = container["spec"]["gpus"].as_array().map_or(0, Vec::len) as f64;
    let cpus = status["cpus"].as_f64().unwrap_or(0.0);
    let (gpu_hours, cpu_hours) = (gpus * hours, cpus * hours);
    let fields = json!({
        "accountedAt": now,
        "usedGpuHours": status["usedGpuHours"].as_f64().unwrap_or(0.0) + gpu_hours,
        "usedCpuHours": status["usedCpuHours"].as_f64().unwrap_or(0.0) + cpu_hours,
    });
    (gpu_hours, cpu_hours, fields)
}
