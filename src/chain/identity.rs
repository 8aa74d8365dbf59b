//! Which chain the database follows. The genesis hash is recorded at the first start; at every
//! start the node's genesis must equal it, before any task reads or writes chain data, so a
//! database filled from one network (or a devnet) is never continued from another.

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::client::ChainClient;
use super::client::ChainError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "wrong chain: this database follows {recorded_name} with genesis 0x{recorded} (recorded at \
         {since}), but the node serves {node_name} with genesis 0x{node}. Point chain.endpoints \
         at a node of that chain, or database.url at a fresh database for this one. Nothing was \
         written."
    )]
    WrongChain {
        recorded: String,
        recorded_name: String,
        node: String,
        node_name: String,
        since: String,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("reading the node's genesis: {0}")]
    Chain(#[from] ChainError),
}

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The node's genesis was recorded now (first start, or a database of an earlier release).
    Recorded,
    /// The node's genesis equals the recorded one.
    Same,
}

/// A network's name for people: `"Bittensor"`, or "an unnamed network" when unknown.
fn named(name: Option<String>) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("\"{n}\""),
        _ => "an unnamed network".into(),
    }
}

/// Asks the node for its genesis hash and network name (retrying until it answers or `cancel`
/// fires) and checks the hash against the recorded one, recording both when there is none.
pub async fn check(
    pool: &PgPool,
    client: &ChainClient,
    cancel: &CancellationToken,
) -> Result<Identity, IdentityError> {
    let node = client.retry(cancel, || client.block_hash(0)).await?.hash;
    let name = client.retry(cancel, || client.chain_name()).await?;
    let recorded: Option<(Vec<u8>, Option<String>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT genesis_hash, network, recorded_at FROM chain_identity")
            .fetch_optional(pool)
            .await?;
    match recorded {
        Some((hash, network, _)) if hash == node => {
            if network.is_none() {
                // Recorded by an earlier release: the name is added, the hash already agrees.
                sqlx::query("UPDATE chain_identity SET network = $1 WHERE network IS NULL")
                    .bind(&name)
                    .execute(pool)
                    .await?;
            }
            Ok(Identity::Same)
        }
        Some((hash, network, since)) => Err(IdentityError::WrongChain {
            recorded: hex::encode(hash),
            recorded_name: named(network),
            node: hex::encode(node),
            node_name: named(Some(name)),
            since: since.to_rfc3339(),
        }),
        None => {
            // Two instances starting at once record the same hash; the second insert is a no-op
            // and the next start compares.
            sqlx::query(
                "INSERT INTO chain_identity (genesis_hash, network) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&node[..])
            .bind(&name)
            .execute(pool)
            .await?;
            Ok(Identity::Recorded)
        }
    }
}
