//! Weight submission: the subnet's weight hyperparameters read at the head, then either a plain
//! `set_weights` / `set_mechanism_weights` or, on commit-reveal subnets, a drand-timelocked
//! commit (v4) that the chain decrypts itself at the reveal epoch.

use std::time::Duration;

use subxt::ext::codec::Encode;
use subxt::ext::scale_value::Value;

use super::client::{BlockRef, ChainClient, ChainError, Submitted};
use super::schedule;
use super::types::{MechId, NetUid};
use crate::drand::{self, Beacon, WeightsPayload};

/// The hyperparameters that decide how and when weights may be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hyperparams {
    pub tempo: u16,
    pub rate_limit: u64,
    pub version_key: u64,
    pub commit_reveal: bool,
    pub commit_reveal_version: u16,
    pub reveal_period_epochs: u64,
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
}

/// One weight vector for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsRequest {
    pub netuid: NetUid,
    pub mechid: MechId,
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    pub version_key: u64,
}

#[derive(Debug, Clone)]
pub enum Pushed {
    Set(Submitted),
    Committed {
        submitted: Submitted,
        reveal_round: u64,
    },
}

impl ChainClient {
    /// The weight hyperparameters at `block`, read at one block in one pass.
    pub async fn hyperparams(
        &self,
        block: BlockRef,
        netuid: NetUid,
    ) -> Result<Hyperparams, ChainError> {
        self.at(block, |r| async move {
            let m = "SubtensorModule";
            Ok(Hyperparams {
                tempo: r.get(m, "Tempo", (netuid,)).await?,
                rate_limit: r.get(m, "WeightsSetRateLimit", (netuid,)).await?,
                version_key: r.get(m, "WeightsVersionKey", (netuid,)).await?,
                commit_reveal: r.get(m, "CommitRevealWeightsEnabled", (netuid,)).await?,
                commit_reveal_version: r.get(m, "CommitRevealWeightsVersion", ()).await?,
                reveal_period_epochs: r.get(m, "RevealPeriodEpochs", (netuid,)).await?,
                min_allowed_weights: r.get(m, "MinAllowedWeights", (netuid,)).await?,
                max_weights_limit: r.get(m, "MaxWeightsLimit", (netuid,)).await?,
            })
        })
        .await
    }

    /// Submits `req` the way the subnet wants it, signed by `signer`, and waits for finality.
    pub async fn push_weights(
        &self,
        signer: &subxt_signer::sr25519::Keypair,
        beacon: &Beacon,
        req: &WeightsRequest,
        block_time_secs: f64,
        finalize_timeout: Duration,
    ) -> Result<Pushed, ChainError> {
        let head = self.finalized_head().await?;
        let h = self.hyperparams(head, req.netuid).await?;
        let list =
            |v: &[u16]| Value::unnamed_composite(v.iter().map(|x| Value::u128(u128::from(*x))));
        let netuid = Value::u128(u128::from(req.netuid));
        let mechid = Value::u128(u128::from(req.mechid));
        if !h.commit_reveal {
            let (call, mut args) = if req.mechid == 0 {
                ("set_weights", vec![netuid])
            } else {
                ("set_mechanism_weights", vec![netuid, mechid])
            };
            args.extend([
                list(&req.uids),
                list(&req.weights),
                Value::u128(u128::from(req.version_key)),
            ]);
            return self
                .submit(signer, "SubtensorModule", call, args, finalize_timeout)
                .await
                .map(Pushed::Set);
        }
        let index = schedule::netuid_storage_index(req.netuid, req.mechid);
        // The head's own time (not the wall clock) and the last stored drand round, if the
        // runtime has the drand pallet.
        let (now_ms, last_round) = self
            .at(head, |r| async move {
                let now_ms: u64 = r.get("Timestamp", "Now", ()).await?;
                let has_drand = r.has("Drand", "LastStoredRound");
                let last_round: Option<u64> = if has_drand {
                    Some(r.get("Drand", "LastStoredRound", ()).await?)
                } else {
                    None
                };
                Ok((now_ms, last_round))
            })
            .await?;
        let mut reveal_round = drand::reveal_round(
            beacon,
            head.number,
            index,
            h.tempo,
            h.reveal_period_epochs,
            now_ms / 1000,
            block_time_secs,
        );
        // The pool refuses a round the chain already has a pulse for.
        if let Some(last) = last_round {
            reveal_round = reveal_round.max(last + 1);
        }
        let payload = WeightsPayload {
            hotkey: signer.public_key().0.to_vec(),
            uids: req.uids.clone(),
            values: req.weights.clone(),
            version_key: req.version_key,
        };
        let commit = beacon
            .encrypt(reveal_round, &payload.encode())
            .map_err(|e| ChainError::Build(e.to_string()))?;
        let (call, mut args) = if req.mechid == 0 {
            ("commit_timelocked_weights", vec![netuid])
        } else {
            ("commit_timelocked_mechanism_weights", vec![netuid, mechid])
        };
        args.extend([
            Value::from_bytes(commit),
            Value::u128(u128::from(reveal_round)),
            Value::u128(u128::from(h.commit_reveal_version)),
        ]);
        let submitted = self
            .submit(signer, "SubtensorModule", call, args, finalize_timeout)
            .await?;
        Ok(Pushed::Committed {
            submitted,
            reveal_round,
        })
    }
}
