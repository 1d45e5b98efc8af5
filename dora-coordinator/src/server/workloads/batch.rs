//! The writes of one pass, gathered so that a pass costs a few writes to
//! the disk whatever the number of replicas: the resources it writes in
//! one transaction, then their statuses in one more.

use std::collections::HashMap;

use serde_json::{json, Map, Value as Json};

use super::super::error::ApiError;
use super::super::store::{self, AuditRecord, Write};
use super::super::Shared;
use super::EVENTS_KEPT;

#[derive(Default)]
pub struct Batch {
    writes: Vec<Write>,
    /// Per key, in the order first set: the fields, and the new events.
    statuses: Vec<(String, Map<String, Json>, Vec<String>)>,
    index: HashMap<String, usize>,
}

impl Batch {
    /// Writes `object` under `key` if its stored version is still
    /// `expected` (when given).
    pub fn write(&mut self, key: &str, object: Json, expected: Option<String>) {
        self.writes.push(Write {
            key: key.to_owned(),
            object,
            expected_version: expected,
        });
    }

    /// Sets status `fields` of the resource under `key`, with `event`.
    pub fn status(&mut self, key: &str, fields: Json, event: Option<&str>) {
        let position = *self.index.entry(key.to_owned()).or_insert_with(|| {
            self.statuses.push((key.to_owned(), Map::new(), Vec::new()));
            self.statuses.len() - 1
        });
        let (_, merged, events) = &mut self.statuses[position];
        if let Json::Object(fields) = fields {
            merged.extend(fields);
        }
        events.extend(event.map(str::to_owned));
    }

    /// Stores the resources written so far, all or none, as `verb`.
    pub fn flush_writes(&mut self, shared: &Shared, verb: &str) -> Result<(), ApiError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let writes = std::mem::take(&mut self.writes);
        let audit = AuditRecord {
            time: store::now(),
            user: "coordinator".to_owned(),
            verb: verb.to_owned(),
            targets: writes.iter().map(|w| w.key.clone()).collect(),
            revision: None,
        };
        let (_, changes) = shared.store.apply(writes, audit)?;
        shared.publish(changes);
        Ok(())
    }

    /// Stores the statuses set so far, each with its events added to
    /// those it has.
    pub fn flush_statuses(&mut self, shared: &Shared) -> Result<(), ApiError> {
        let mut updates = Vec::with_capacity(self.statuses.len());
        for (key, mut fields, new) in std::mem::take(&mut self.statuses) {
            if !new.is_empty() {
                let current = shared.store.get(&key)?;
                let mut events = current
                    .as_ref()
                    .and_then(|c| c["status"]["events"].as_array().cloned())
                    .unwrap_or_default();
                let now = store::now();
                events.extend(new.iter().map(|text| json!({ "time": now, "text": text })));
                let excess = events.len().saturating_sub(EVENTS_KEPT);
                events.drain(..excess);
                fields.insert("events".to_owned(), Json::Array(events));
            }
            updates.push((key, fields));
        }
        self.index.clear();
        let changes = shared.store.update_statuses(&updates)?;
        shared.publish(changes);
        Ok(())
    }
}
