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
        "wrong chain: this database follows the chain with genesis 0x{recorded} (recorded at \
         {since}), but the node serves genesis 0x{node}. Point chain.endpoints at a node of \
         that chain, or database.url at a fresh database for this one. Nothing was written."
    )]
    WrongChain {
        recorded: String,
        node: String,
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

/// Asks the node for its genesis hash (retrying until it answers or `cancel` fires) and checks
/// it against the recorded one, recording it when there is none.
pub async fn check(
    pool: &PgPool,
    client: &ChainClient,
    cancel: &CancellationToken,
) -> Result<Identity, IdentityError> {
    let node = client.retry(cancel, || client.block_hash(0)).await?.hash;
    let recorded: Option<(Vec<u8>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT genesis_hash, recorded_at FROM chain_identity")
            .fetch_optional(pool)
            .await?;
    match recorded {
        Some((hash, _)) if hash == node => Ok(Identity::Same),
        Some((hash, since)) => Err(IdentityError::WrongChain {
            recorded: hex::encode(hash),
            node: hex::encode(node),
            since: since.to_rfc3339(),
        }),
        None => {
            // Two instances starting at once record the same hash; the second insert is a no-op
            // and the next start compares.
            sqlx::query(
                "INSERT INTO chain_identity (genesis_hash) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .bind(&node[..])
            .execute(pool)
            .await?;
            Ok(Identity::Recorded)
        }
    }
}
