//! Who is calling, and whether they may: tokens, users and roles.
//!
//! A token is 32 random bytes, shown once when it is made and stored only
//! as its SHA-256: a token that leaks from the database is useless. Being
//! random, it needs no slow password hash. Every token expires, and can be
//! revoked. A request carries it as `Authorization: Bearer <token>`; it
//! names a user, whose roles' rules say which verbs it may use on which
//! kinds in which workspaces.

use axum::http::StatusCode;
use dora_core::resource::{Kind, RoleSpec, Rule, UserSpec, Verb};
use ring::rand::{SecureRandom, SystemRandom};

use super::error::ApiError;
use super::keys;
use super::store::{self, Store, Token};

/// What tokens start with, so that one is easy to recognise (and to find
/// in a leaked file).
const TOKEN_PREFIX: &str = "dora_";

/// A new token's secret and its hash.
pub fn new_secret() -> Result<(String, String), ApiError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("the system's random source failed"))?;
    let secret = format!("{TOKEN_PREFIX}{}", hex(&bytes));
    let hash = hash(&secret);
    Ok((secret, hash))
}

/// The SHA-256 of a token, in hex: its key in the store.
pub fn hash(secret: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// A short random public id for a token.
pub fn new_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 6];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("the system's random source failed"))?;
    Ok(hex(&bytes))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub token_id: String,
    /// The workspace used when a request names none.
    pub default_workspace: String,
    rules: Vec<Rule>,
}

impl Caller {
    /// Whether the caller may `verb` resources of `kind` in `workspace`
    /// (`None` for kinds that live in no workspace); a 403 that names what
    /// is missing when not.
    pub fn authorize(
        &self,
        verb: Verb,
        kind: Kind,
        workspace: Option<&str>,
    ) -> Result<(), ApiError> {
        if self
            .rules
            .iter()
            .any(|rule| allows(rule, verb, kind, workspace))
        {
            return Ok(());
        }
        let place = workspace.map_or(String::new(), |w| format!(" in workspace `{w}`"));
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "user `{}` may not {verb:?} {kind}{place}: no rule of its roles allows it",
                self.user
            ),
            format!("ask an administrator for a role with verb {verb:?} on kind {kind}{place}"),
        ))
    }
}

fn allows(rule: &Rule, verb: Verb, kind: Kind, workspace: Option<&str>) -> bool {
    let kind_ok = rule.kinds.as_ref().is_none_or(|k| k.contains(&kind));
    let verb_ok = rule.verbs.as_ref().is_none_or(|v| v.contains(&verb));
    // A rule limited to workspaces grants nothing outside them, including
    // the kinds that live in no workspace.
    let workspace_ok = match (&rule.workspaces, workspace) {
        (None, _) => true,
        (Some(allowed), Some(workspace)) => allowed.iter().any(|w| w == workspace),
        (Some(_), None) => false,
    };
    kind_ok && verb_ok && workspace_ok
}

/// Finds who a token belongs to, and what they may do.
pub fn authenticate(store: &Store, header: Option<&str>) -> Result<Caller, ApiError> {
    let Some(value) = header else {
        return Err(ApiError::unauthorized("the request has no token"));
    };
    let Some(secret) = value.strip_prefix("Bearer ").map(str::trim) else {
        return Err(ApiError::unauthorized(
            "the Authorization header is not `Bearer <token>`",
        ));
    };
    let Some(token) = store.token(&hash(secret))? else {
        return Err(ApiError::unauthorized(
            "the token is not known to this coordinator",
        ));
    };
    check_token(&token)?;
    if let Some(zone) = &token.join_zone {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token `{}` is a join token for zone `{zone}`: it only lets a machine join",
                token.id
            ),
            "use a user's token for API calls (`dora token create --user NAME`)",
        ));
    }
    caller(store, &token)
}

/// The join token a daemon joins with.
pub fn join_token(store: &Store, header: Option<&str>) -> Result<Token, ApiError> {
    let secret = header
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "joining needs a join token (`dora token create --join --zone ZONE`)",
            )
        })?;
    let token = store
        .token(&hash(secret))?
        .ok_or_else(|| ApiError::unauthorized("the join token is not known to this coordinator"))?;
    check_token(&token)?;
    if token.join_zone.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("token `{}` is a user's token, not a join token", token.id),
            "make a join token: `dora token create --join --zone ZONE`",
        ));
    }
    Ok(token)
}

/// An error when `token` is expired or revoked.
pub fn check_token(token: &Token) -> Result<(), ApiError> {
    if token.revoked {
        return Err(ApiError::unauthorized(format!(
            "token `{}` was revoked",
            token.id
        )));
    }
    if token.expires <= store::now() {
        return Err(ApiError::unauthorized(format!(
            "token `{}` expired {}",
            token.id,
            super::age::ago(token.expires)
        )));
    }
    Ok(())
}

fn caller(store: &Store, token: &Token) -> Result<Caller, ApiError> {
    let user = store
        .get(&keys::key(Kind::User, None, None, &token.user))?
        .ok_or_else(|| {
            ApiError::unauthorized(format!(
                "token `{}` belongs to user `{}`, who no longer exists",
                token.id, token.user
            ))
        })?;
    let spec: UserSpec =
        serde_json::from_value(user["spec"].clone()).map_err(ApiError::internal)?;
    let mut rules = Vec::new();
    for role in &spec.roles {
        // A role that does not exist grants nothing.
        if let Some(role) = store.get(&keys::key(Kind::Role, None, None, role))? {
            let spec: RoleSpec =
                serde_json::from_value(role["spec"].clone()).map_err(ApiError::internal)?;
            rules.extend(spec.rules);
        }
    }
    Ok(Caller {
        default_workspace: spec.default_workspace.unwrap_or_else(|| token.user.clone()),
        user: token.user.clone(),
        token_id: token.id.clone(),
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(rules: Vec<Rule>) -> Caller {
        Caller {
            user: "ana".to_owned(),
            token_id: "t".to_owned(),
            default_workspace: "ana".to_owned(),
            rules,
        }
    }

    #[test]
    fn a_rule_allows_only_its_verbs_kinds_and_workspaces() {
        let ana = caller(vec![Rule {
            kinds: Some(vec![Kind::Workload]),
            verbs: Some(vec![Verb::Get, Verb::List]),
            workspaces: Some(vec!["lab".to_owned()]),
        }]);
        assert!(ana
            .authorize(Verb::Get, Kind::Workload, Some("lab"))
            .is_ok());
        let denied = [
            (Verb::Apply, Kind::Workload, Some("lab")),
            (Verb::Get, Kind::Volume, Some("lab")),
            (Verb::Get, Kind::Workload, Some("other")),
            (Verb::Get, Kind::User, None),
        ];
        for (verb, kind, workspace) in denied {
            let error = ana.authorize(verb, kind, workspace).unwrap_err();
            assert_eq!(error.status, StatusCode::FORBIDDEN);
            assert!(
                error.message.contains(&format!("may not {verb:?} {kind}")),
                "{}",
                error.message
            );
        }
        let admin = caller(vec![Rule::default()]);
        assert!(admin.authorize(Verb::Delete, Kind::User, None).is_ok());
        assert!(caller(Vec::new())
            .authorize(Verb::Get, Kind::Node, None)
            .is_err());
    }

    #[test]
    fn a_token_is_stored_only_as_its_hash() {
        let (secret, hash) = new_secret().unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX) && secret.len() == TOKEN_PREFIX.len() + 64);
        assert!(!hash.contains(&secret[TOKEN_PREFIX.len()..]));
        assert_eq!(super::hash(&secret), hash);
        assert_ne!(new_secret().unwrap().0, secret);
    }
}
