//! A workload's own status: how many of its replicas are in each state,
//! one state for the whole workload, and the mail its owner gets when
//! that state changes (`notify.byEmail`).

use std::collections::BTreeMap;

use dora_core::resource::Kind;
use serde_json::{json, Value as Json};

use super::super::error::ApiError;
use super::super::{keys, Shared};
use super::plan::{Action, Wanted};

/// The order in which a replica's state speaks for its workload: the
/// first state any replica is in is the workload's.
const PRECEDENCE: [&str; 7] = [
    "CreditExhausted",
    "CrashLoop",
    "Failed",
    "Pending",
    "Scheduled",
    "Running",
    "Succeeded",
];

fn text(value: &Json) -> &str {
    value.as_str().unwrap_or_default()
}

/// Sets each workload's `status.replicas` (the count in each state) and
/// `status.state`; a change of state is mailed to the owner when asked.
pub fn workload_states(
    shared: &Shared,
    wanted: &[Wanted],
    actions: &mut Vec<Action>,
) -> Result<(), ApiError> {
    let mut counts: BTreeMap<(String, String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for container in shared.store.list(&format!("{}/", Kind::Container))? {
        let metadata = &container["metadata"];
        let workload = (
            text(&metadata["zone"]).to_owned(),
            text(&metadata["workspace"]).to_owned(),
            text(&container["spec"]["workload"]).to_owned(),
        );
        let state = text(&container["status"]["state"]).to_owned();
        *counts
            .entry(workload)
            .or_default()
            .entry(state)
            .or_default() += 1;
    }
    for workload in wanted {
        let place = (
            workload.zone.clone(),
            workload.workspace.clone(),
            workload.name.clone(),
        );
        let replicas = counts.remove(&place).unwrap_or_default();
        let state = PRECEDENCE
            .iter()
            .find(|s| replicas.contains_key(**s))
            .copied()
            .unwrap_or("Pending");
        let key = keys::key(
            Kind::Workload,
            Some(&workload.zone),
            Some(&workload.workspace),
            &workload.name,
        );
        let status = &workload.stored["status"];
        let mut fields = serde_json::Map::new();
        fields.insert("replicas".to_owned(), json!(replicas));
        fields.insert("state".to_owned(), json!(state));
        let changed = status["state"] != state;
        if changed {
            fields.insert("since".to_owned(), json!(super::super::store::now()));
        }
        if changed && workload.spec.notify.by_email {
            match mail(shared, workload, state, &replicas) {
                Ok(action) => {
                    actions.push(action);
                    fields.insert("notifyError".to_owned(), Json::Null);
                }
                Err(problem) => {
                    fields.insert("notifyError".to_owned(), json!(problem));
                }
            }
        }
        if let Some(change) = shared.store.update_status(&key, &fields)? {
            shared.publish(vec![change]);
        }
    }
    Ok(())
}

/// The mail that tells the owner of `workload` its new state.
fn mail(
    shared: &Shared,
    workload: &Wanted,
    state: &str,
    replicas: &BTreeMap<String, u64>,
) -> Result<Action, String> {
    if shared.smtp.is_none() {
        return Err("the coordinator sends no mail: start it with --smtp".to_owned());
    }
    let Some(owner) = workload.stored["status"]["owner"].as_str() else {
        return Err("the workload has no owner on record".to_owned());
    };
    let user = shared
        .store
        .get(&keys::key(Kind::User, None, None, owner))
        .map_err(|e| e.to_string())?;
    let Some(to) = user.as_ref().and_then(|u| u["spec"]["email"].as_str()) else {
        return Err(format!(
            "user `{owner}` has no email: set `spec.email` of the User"
        ));
    };
    let counts: Vec<String> = replicas
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    Ok(Action::Email {
        to: to.to_owned(),
        subject: format!(
            "dora: workload {} is {state}",
            workload.name
        ),
        body: format!(
            "Workload `{}` of workspace `{}` in zone `{}` is {state}.\nReplicas: {}.\n\nSee it with: dora describe workload {} --zone {} --workspace {}\n",
            workload.name,
            workload.workspace,
            workload.zone,
            counts.join(", "),
            workload.name,
            workload.zone,
            workload.workspace
        ),
    })
}
