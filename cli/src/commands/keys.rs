//! `p06 keys …`: API keys through the gateway's Access API, and an offline
//! `bootstrap` for an operator who lost the first ADMIN key.

use crate::{
    cli::ClientArgs,
    client::{connect, describe},
    stack::{BOOTSTRAP_UNIT, Databases},
};
use p06_proto::gateway::v1::{self as pb, access_client::AccessClient};
use std::path::PathBuf;

/// Key subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key: `p06 keys create --unit units/p01 --role unit --name "Hà Nội DX center"`.
    Create {
        /// The unit the key acts for.
        #[arg(long)]
        unit: String,
        /// admin, coordinator, unit or viewer.
        #[arg(long)]
        role: String,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        /// Idempotency key: repeating the command with it returns the same key.
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// List keys.
    List {
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key at once: `p06 keys revoke apiKeys/…`.
    Revoke {
        /// The key's name.
        key: String,
    },
    /// Show who the gateway takes the current key to be.
    Whoami,
    /// Create a new ADMIN key directly in the gateway database (run while p06 is stopped).
    Bootstrap {
        /// The data directory of `p06 up`.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

fn role_name(role: i32) -> String {
    pb::Role::try_from(role)
        .map(|r| r.as_str_name().trim_start_matches("ROLE_").to_string())
        .unwrap_or_default()
}

fn key_line(k: &pb::ApiKey) -> String {
    let revoked = if k.revoke_time.is_some() {
        "  (revoked)"
    } else {
        ""
    };
    format!(
        "{:<34} {:<12} {:<22} {}{}",
        k.name,
        role_name(k.role),
        k.unit,
        k.display_name,
        revoked
    )
}

/// Runs a key subcommand.
pub async fn run(args: &ClientArgs, command: KeysCommand) -> anyhow::Result<()> {
    if let KeysCommand::Bootstrap { data_dir } = &command {
        let dbs = Databases::sqlite_in(data_dir)?;
        let key = p06_gateway::create_admin_key(
            &dbs.gateway,
            BOOTSTRAP_UNIT,
            "bootstrap (p06 keys bootstrap)",
        )
        .await?;
        println!("new ADMIN key (shown once): {key}");
        return Ok(());
    }
    let mut client = AccessClient::new(connect(args).await?);
    match command {
        KeysCommand::Create {
            unit,
            role,
            name,
            request_id,
        } => {
            let role = pb::Role::from_str_name(&format!("ROLE_{}", role.to_uppercase()))
                .ok_or_else(|| {
                    anyhow::anyhow!("unknown role {role:?}: use admin, coordinator, unit or viewer")
                })?;
            let unit = if unit.starts_with("units/") {
                unit
            } else {
                format!("units/{unit}")
            };
            let api_key = pb::ApiKey {
                unit,
                role: role as i32,
                display_name: name,
                ..Default::default()
            };
            let r = client
                .create_api_key(pb::CreateApiKeyRequest {
                    api_key: Some(api_key),
                    request_id,
                })
                .await
                .map_err(describe)?
                .into_inner();
            if let Some(k) = &r.api_key {
                println!("{}", key_line(k));
            }
            if r.secret.is_empty() {
                println!(
                    "secret: not returned (a retry of a create the gateway cannot unseal; revoke the key and create another if the secret is lost)"
                );
            } else {
                println!("secret (shown once): {}", r.secret);
            }
        }
        KeysCommand::List { all } => {
            let mut request = pb::ListApiKeysRequest {
                page_size: 200,
                show_revoked: all,
                ..Default::default()
            };
            loop {
                let page = client
                    .list_api_keys(request.clone())
                    .await
                    .map_err(describe)?
                    .into_inner();
                for k in &page.api_keys {
                    println!("{}", key_line(k));
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
        }
        KeysCommand::Revoke { key } => {
            let k = client
                .revoke_api_key(pb::RevokeApiKeyRequest { name: key })
                .await
                .map_err(describe)?
                .into_inner();
            println!("{}", key_line(&k));
        }
        KeysCommand::Whoami => {
            let i = client
                .who_am_i(pb::WhoAmIRequest {})
                .await
                .map_err(describe)?
                .into_inner();
            println!(
                "{} {} {} {}",
                i.api_key,
                role_name(i.role),
                i.unit,
                i.display_name
            );
        }
        KeysCommand::Bootstrap { .. } => {}
    }
    Ok(())
}
