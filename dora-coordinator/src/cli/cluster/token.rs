//! `dora token create|list|revoke`.

use std::process::ExitCode;

use hyper::Method;

use crate::server;

use super::resources::print_table;
use super::{encode, ok, Connection, TokenCommand};

/// `dora token ...`.
pub fn token(connection: &Connection, command: &TokenCommand) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    match command {
        TokenCommand::Create {
            user,
            join,
            zone,
            ttl,
        } => {
            let mut request = serde_json::json!({ "ttl": ttl });
            if *join {
                request["join_zone"] = serde_json::json!(zone);
            } else {
                request["user"] = serde_json::json!(user);
            }
            let body = ok(client.call(
                Method::POST,
                "/api/v1/tokens",
                Some(("application/json", request.to_string().into_bytes())),
            )?)?;
            let what = match zone {
                Some(zone) if *join => format!("join token for zone `{zone}`"),
                _ => format!("token for user `{}`", user.as_deref().unwrap_or_default()),
            };
            eprintln!(
                "{what} ({}), valid until {}; it is shown only now:",
                body["id"].as_str().unwrap_or_default(),
                body["expires"]
                    .as_u64()
                    .map_or("-".to_owned(), |t| format!("{t} (Unix time)"))
            );
            println!("{}", body["token"].as_str().unwrap_or_default());
        }
        TokenCommand::List => {
            let body = ok(client.call(Method::GET, "/api/v1/tokens", None)?)?;
            let rows: Vec<Vec<String>> = body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let expires = t["expires"].as_u64().unwrap_or(0);
                    let state = if t["revoked"] == true {
                        "revoked".to_owned()
                    } else if expires <= now() {
                        "expired".to_owned()
                    } else {
                        "valid".to_owned()
                    };
                    vec![
                        t["id"].as_str().unwrap_or_default().to_owned(),
                        t["user"].as_str().unwrap_or_default().to_owned(),
                        state,
                        t["created"].as_u64().map_or("-".to_owned(), server::age),
                    ]
                })
                .collect();
            print_table(&["ID", "USER", "STATE", "AGE"], &rows);
        }
        TokenCommand::Revoke { id } => {
            ok(client.call(
                Method::DELETE,
                &format!("/api/v1/tokens/{}", encode(id)),
                None,
            )?)?;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
