//! The coordinator's state: one redb file in the state folder.
//!
//! Every resource is stored as the JSON of its YAML form, with its
//! `metadata.resourceVersion`: the revision of the write that last changed
//! it. Revisions come from one counter that every write transaction
//! advances once, as etcd's do, so a client that read version N can ask
//! for "only if it is still N" (optimistic concurrency), and a watcher can
//! say from where it wants the changes.
//!
//! A write is acknowledged only once its transaction has committed, which
//! redb makes durable before `commit` returns: what the API acknowledged
//! survives `kill -9`. A multi-document apply is one transaction: stored
//! whole or not at all.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Counters: `revision`, `event`, `audit`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `Kind/zone/workspace/name` to the resource's JSON.
const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("resources");
/// Event number to a [`Change`]'s JSON, for watchers that resume.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Audit number to an [`AuditRecord`]'s JSON.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// The SHA-256 (hex) of a token to its [`Token`]'s JSON. Tokens are never
/// stored in clear.
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");

/// How many changes are kept for watchers that resume from a revision.
const EVENTS_KEPT: u64 = 10_000;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state database: {0}")]
    Database(#[from] redb::Error),
    #[error(
        "another coordinator is using the state folder {0}; stop it, or give another --state-dir"
    )]
    InUse(String),
    /// An update named a version that is no longer the stored one.
    #[error("{key} is at version {current}, not {expected}: it changed since it was read")]
    Conflict {
        key: String,
        expected: String,
        current: String,
    },
    #[error("stored data is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Turns any redb error into a [`StoreError`].
fn db<T, E: Into<redb::Error>>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Database(e.into()))
}

/// What a change did to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One change of one resource, as watchers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    #[serde(rename = "type")]
    pub change: ChangeType,
    pub revision: u64,
    /// The resource after the change (before it, for a deletion).
    pub object: Json,
}

/// A resource to write, with its key and the version the writer expects.
pub struct Write {
    pub key: String,
    /// The resource's JSON; its `metadata.resourceVersion` is set here.
    pub object: Json,
    /// Write only if the stored version is this one.
    pub expected_version: Option<String>,
}

/// What an apply did to each resource, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

/// Who did what, for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Seconds since the Unix epoch.
    pub time: u64,
    pub user: String,
    pub verb: String,
    /// What it was done to (`Kind/zone/workspace/name`, or a token id).
    pub targets: Vec<String>,
    /// The revision it made, if it changed resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// A token as stored: never the token itself, only what it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// A short public name for the token, to list and revoke it by.
    pub id: String,
    pub user: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub expires: u64,
    pub revoked: bool,
    /// A join token lets one machine join this zone, and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_zone: Option<String>,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The state database of one coordinator.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens the database in `dir`, creating it on first start. After an
    /// unclean stop (`kill -9`, power loss), redb first checks and repairs
    /// it, back to the last committed write.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("state.redb");
        let database = Database::builder().create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::InUse(dir.display().to_string())
            }
            e => StoreError::Database(e.into()),
        })?;
        // Every table exists from the start, so that reads never meet a
        // missing one.
        let tx = db(database.begin_write())?;
        db(tx.open_table(META))?;
        db(tx.open_table(RESOURCES))?;
        db(tx.open_table(EVENTS))?;
        db(tx.open_table(AUDIT))?;
        db(tx.open_table(TOKENS))?;
        db(tx.commit())?;
        Ok(Store { db: database })
    }

    /// The resource stored under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Json>, StoreError> {
        let tx = db(self.db.begin_read())?;
        let table = db(tx.open_table(RESOURCES))?;
        let value = db(table.get(key))?;
        Ok(match value {
            Some(bytes) => Some(serde_json::from_slice(bytes.value())?),
            None => None,
        })
    }

    /// Every resource whose key starts with `prefix`, in key order.
    pub fn list(&self, prefix: &str) -> Result<Vec<Json>, StoreError> {
        Ok(self.list_at(prefix)?.1)
    }

    /// [`list`](Self::list), with the revision it is at: both read in one
    /// transaction, so no write falls between them.
    pub fn list_at(&self, prefix: &str) -> Result<(u64, Vec<Json>), StoreError> {
        let tx = db(self.db.begin_read())?;
        let meta = db(tx.open_table(META))?;
        let revision = db(meta.get("revision"))?.map_or(0, |v| v.value());
        let table = db(tx.open_table(RESOURCES))?;
        let mut found = Vec::new();
        for entry in db(table.range(prefix..))? {
            let (key, value) = db(entry)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            found.push(serde_json::from_slice(value.value())?);
        }
        Ok((revision, found))
    }

    /// `{"items": [...], "resourceVersion": "N"}` for every resource whose
    /// key starts with `prefix`, made from the stored bytes without parsing
    /// them: a list of a hundred thousand resources costs its text, not a
    /// tree of values.
    pub fn list_json(&self, prefix: &str) -> Result<Vec<u8>, StoreError> {
        let tx = db(self.db.begin_read())?;
        let meta = db(tx.open_table(META))?;
        let revision = db(meta.get("revision"))?.map_or(0, |v| v.value());
        let table = db(tx.open_table(RESOURCES))?;
        let mut out = b"{\"items\":[".to_vec();
        let mut first = true;
        for entry in db(table.range(prefix..))? {
            let (key, value) = db(entry)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(value.value());
        }
        out.extend_from_slice(format!("],\"resourceVersion\":\"{revision}\"}}").as_bytes());
        Ok(out)
    }

    /// Writes every resource of `writes`, or none: a version that does not
    /// match refuses the whole apply. A resource whose content is already
    /// stored is left as it is. Returns what happened to each, and the
    /// changes made (for watchers), once they are durable.
    pub fn apply(
        &self,
        writes: Vec<Write>,
        audit: AuditRecord,
    ) -> Result<(Vec<Outcome>, Vec<Change>), StoreError> {
        let tx = db(self.db.begin_write())?;
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut changes = Vec::new();
        {
            let mut meta = db(tx.open_table(META))?;
            let mut resources = db(tx.open_table(RESOURCES))?;
            let revision = db(meta.get("revision"))?.map_or(0, |v| v.value()) + 1;
            for mut write in writes {
                let current: Option<Json> = match db(resources.get(write.key.as_str()))? {
                    Some(bytes) => Some(serde_json::from_slice(bytes.value())?),
                    None => None,
                };
                let current_version = current.as_ref().map(version).unwrap_or_default();
                if let Some(expected) = &write.expected_version {
                    if *expected != current_version {
                        // Dropping the transaction aborts it: nothing of
                        // this apply is stored.
                        return Err(StoreError::Conflict {
                            key: write.key,
                            expected: expected.clone(),
                            current: if current.is_some() {
                                current_version
                            } else {
                                "none (it does not exist)".to_owned()
                            },
                        });
                    }
                }
                if let Some(current) = &current {
                    // The status is the coordinator's: kept across applies.
                    if let (Some(status), Some(object)) =
                        (current.get("status"), write.object.as_object_mut())
                    {
                        object.insert("status".to_owned(), status.clone());
                    }
                    set_version(&mut write.object, &current_version);
                    if *current == write.object {
                        outcomes.push(Outcome::Unchanged);
                        continue;
                    }
                }
                set_version(&mut write.object, &revision.to_string());
                stamp(&mut write.object, current.is_none());
                db(resources.insert(
                    write.key.as_str(),
                    serde_json::to_vec(&write.object)?.as_slice(),
                ))?;
                outcomes.push(if current.is_some() {
                    Outcome::Configured
                } else {
                    Outcome::Created
                });
                changes.push(Change {
                    change: if current.is_some() {
                        ChangeType::Modified
                    } else {
                        ChangeType::Added
                    },
                    revision,
                    object: write.object,
                });
            }
            if !changes.is_empty() {
                db(meta.insert("revision", revision))?;
            }
        }
        let revision = changes.first().map(|c| c.revision);
        self.record(&tx, &changes, AuditRecord { revision, ..audit })?;
        db(tx.commit())?;
        Ok((outcomes, changes))
    }

    /// Deletes the resource under `key`, if the stored version is
    /// `expected_version` (when given). Returns the change, or `None` when
    /// there was no such resource.
    pub fn delete(
        &self,
        key: &str,
        expected_version: Option<&str>,
        audit: AuditRecord,
    ) -> Result<Option<Change>, StoreError> {
        let tx = db(self.db.begin_write())?;
        let change = {
            let mut meta = db(tx.open_table(META))?;
            let mut resources = db(tx.open_table(RESOURCES))?;
            let removed = db(resources.remove(key))?;
            let Some(removed) = removed else {
                return Ok(None);
            };
            let object: Json = serde_json::from_slice(removed.value())?;
            drop(removed);
            if let Some(expected) = expected_version {
                if expected != version(&object) {
                    return Err(StoreError::Conflict {
                        key: key.to_owned(),
                        expected: expected.to_owned(),
                        current: version(&object),
                    });
                }
            }
            let revision = next_revision(&mut meta)?;
            Change {
                change: ChangeType::Deleted,
                revision,
                object,
            }
        };
        let changes = [change];
        self.record(
            &tx,
            &changes,
            AuditRecord {
                revision: Some(changes[0].revision),
                ..audit
            },
        )?;
        db(tx.commit())?;
        let [change] = changes;
        Ok(Some(change))
    }

    /// Records `changes` for watchers and `audit`, in the transaction that
    /// made them, so that no change goes unaudited.
    fn record(
        &self,
        tx: &redb::WriteTransaction,
        changes: &[Change],
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let mut meta = db(tx.open_table(META))?;
        let mut events = db(tx.open_table(EVENTS))?;
        let mut event = db(meta.get("event"))?.map_or(0, |v| v.value());
        for change in changes {
            event += 1;
            db(events.insert(event, serde_json::to_vec(change)?.as_slice()))?;
        }
        db(meta.insert("event", event))?;
        if event > EVENTS_KEPT {
            let oldest_kept = event - EVENTS_KEPT;
            db(events.retain_in(..oldest_kept, |_, _| false))?;
        }
        let mut log = db(tx.open_table(AUDIT))?;
        let number = db(meta.get("audit"))?.map_or(0, |v| v.value()) + 1;
        db(meta.insert("audit", number))?;
        db(log.insert(number, serde_json::to_vec(&audit)?.as_slice()))?;
        Ok(())
    }

    /// Sets `fields` in the `status` of the resource under `key` (what the
    /// coordinator observed, such as a machine's state), unless they hold
    /// these values already. Returns the change, or `None` when there is no
    /// such resource or nothing changed.
    pub fn update_status(
        &self,
        key: &str,
        fields: &serde_json::Map<String, Json>,
    ) -> Result<Option<Change>, StoreError> {
        let mut changes = self.update_statuses(&[(key.to_owned(), fields.clone())])?;
        Ok(changes.pop())
    }

    /// [`Store::update_status`] for many resources, in one transaction
    /// (one write to the disk); the changes made, in order.
    pub fn update_statuses(
        &self,
        updates: &[(String, serde_json::Map<String, Json>)],
    ) -> Result<Vec<Change>, StoreError> {
        let tx = db(self.db.begin_write())?;
        let mut changes = Vec::new();
        let mut targets = Vec::new();
        {
            let mut meta = db(tx.open_table(META))?;
            let mut resources = db(tx.open_table(RESOURCES))?;
            for (key, fields) in updates {
                let current: Option<Json> = match db(resources.get(key.as_str()))? {
                    Some(bytes) => Some(serde_json::from_slice(bytes.value())?),
                    None => None,
                };
                let Some(mut object) = current else {
                    continue;
                };
                let Some(status) = object
                    .as_object_mut()
                    .map(|o| {
                        o.entry("status")
                            .or_insert_with(|| Json::Object(Default::default()))
                    })
                    .and_then(Json::as_object_mut)
                else {
                    continue;
                };
                if fields.iter().all(|(k, v)| status.get(k) == Some(v)) {
                    continue;
                }
                for (k, v) in fields {
                    status.insert(k.clone(), v.clone());
                }
                let revision = next_revision(&mut meta)?;
                set_version(&mut object, &revision.to_string());
                db(resources.insert(key.as_str(), serde_json::to_vec(&object)?.as_slice()))?;
                targets.push(key.clone());
                changes.push(Change {
                    change: ChangeType::Modified,
                    revision,
                    object,
                });
            }
        }
        if changes.is_empty() {
            return Ok(changes);
        }
        // The coordinator's own observation: recorded for watchers, and
        // audited as the coordinator's.
        self.record(
            &tx,
            &changes,
            AuditRecord {
                time: now(),
                user: "coordinator".to_owned(),
                verb: "UpdateStatus".to_owned(),
                targets,
                revision: changes.last().map(|c| c.revision),
            },
        )?;
        db(tx.commit())?;
        Ok(changes)
    }

    /// Records `audit`, an action that changed no resource (a stop).
    pub fn audit(&self, audit: AuditRecord) -> Result<(), StoreError> {
        let tx = db(self.db.begin_write())?;
        self.record(&tx, &[], audit)?;
        db(tx.commit())
    }

    /// The changes after revision `after`, oldest first; `None` when some
    /// of them are no longer kept.
    pub fn changes_since(&self, after: u64) -> Result<Option<Vec<Change>>, StoreError> {
        let tx = db(self.db.begin_read())?;
        let events = db(tx.open_table(EVENTS))?;
        let mut changes = Vec::new();
        let mut first = true;
        for entry in db(events.iter())? {
            let (_, value) = db(entry)?;
            let change: Change = serde_json::from_slice(value.value())?;
            if first && change.revision > after + 1 && after > 0 {
                // The oldest kept change is newer than what was asked for.
                return Ok(None);
            }
            first = false;
            if change.revision > after {
                changes.push(change);
            }
        }
        Ok(Some(changes))
    }

    /// The last `limit` audit records, oldest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let tx = db(self.db.begin_read())?;
        let log = db(tx.open_table(AUDIT))?;
        let mut records = Vec::new();
        for entry in db(log.iter())?.rev().take(limit) {
            let (_, value) = db(entry)?;
            records.push(serde_json::from_slice(value.value())?);
        }
        records.reverse();
        Ok(records)
    }

    /// Stores a new token under the hash of its secret.
    pub fn add_token(
        &self,
        hash: &str,
        token: &Token,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let tx = db(self.db.begin_write())?;
        {
            let mut tokens = db(tx.open_table(TOKENS))?;
            db(tokens.insert(hash, serde_json::to_vec(token)?.as_slice()))?;
        }
        self.record(&tx, &[], audit)?;
        db(tx.commit())?;
        Ok(())
    }

    /// The token whose secret hashes to `hash`.
    pub fn token(&self, hash: &str) -> Result<Option<Token>, StoreError> {
        let tx = db(self.db.begin_read())?;
        let tokens = db(tx.open_table(TOKENS))?;
        let value = db(tokens.get(hash))?;
        Ok(match value {
            Some(bytes) => Some(serde_json::from_slice(bytes.value())?),
            None => None,
        })
    }

    /// Every token, without its secret.
    pub fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        let tx = db(self.db.begin_read())?;
        let tokens = db(tx.open_table(TOKENS))?;
        let mut found = Vec::new();
        for entry in db(tokens.iter())? {
            let (_, value) = db(entry)?;
            found.push(serde_json::from_slice(value.value())?);
        }
        Ok(found)
    }

    /// Marks the token `id` revoked; returns it, or `None` when there is no
    /// such token.
    pub fn revoke_token(&self, id: &str, audit: AuditRecord) -> Result<Option<Token>, StoreError> {
        let tx = db(self.db.begin_write())?;
        let revoked = {
            let mut tokens = db(tx.open_table(TOKENS))?;
            let mut found = None;
            for entry in db(tokens.iter())? {
                let (hash, value) = db(entry)?;
                let token: Token = serde_json::from_slice(value.value())?;
                if token.id == id {
                    found = Some((hash.value().to_owned(), token));
                    break;
                }
            }
            let Some((hash, mut token)) = found else {
                return Ok(None);
            };
            token.revoked = true;
            db(tokens.insert(hash.as_str(), serde_json::to_vec(&token)?.as_slice()))?;
            token
        };
        self.record(&tx, &[], audit)?;
        db(tx.commit())?;
        Ok(Some(revoked))
    }
}

/// Advances the store's revision counter: one step per write transaction
/// that changes resources.
fn next_revision(meta: &mut redb::Table<&str, u64>) -> Result<u64, StoreError> {
    let revision = db(meta.get("revision"))?.map_or(0, |v| v.value()) + 1;
    db(meta.insert("revision", revision))?;
    Ok(revision)
}

/// A resource's `metadata.resourceVersion` ("" when it has none).
pub fn version(object: &Json) -> String {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Records in `status` when the resource was made and last changed.
fn stamp(object: &mut Json, created: bool) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    let status = object
        .entry("status")
        .or_insert_with(|| Json::Object(Default::default()));
    if let Some(status) = status.as_object_mut() {
        let now = Json::from(now());
        if created {
            status.insert("createdAt".to_owned(), now.clone());
        }
        status.insert("updatedAt".to_owned(), now);
    }
}

fn set_version(object: &mut Json, version: &str) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Json::as_object_mut) {
        metadata.insert(
            "resourceVersion".to_owned(),
            Json::String(version.to_owned()),
        );
    }
}
