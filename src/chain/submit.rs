//! Weight submission: the subnet's weight hyperparameters read at the head, then either a plain
//! `set_weights` / `set_mechanism_weights` or, on commit-reveal subnets, a drand-timelocked
//! commit (v4) that the chain decrypts itself at the reveal epoch.

use std::time::Duration;

use subxt::ext::codec::Encode;
use subxt::ext::scale_value::Value;

use super::client::{BlockRef, ChainClient, ChainError, Reader, Submitted};
use super::schedule;
use super::types::{AccountId, MechId, NetUid};
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
        self.at(block, |r| async move { r.hyperparams(netuid).await })
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
        let call = self
            .weights_call(head, &h, signer, beacon, req, block_time_secs)
            .await?;
        let submitted = self
            .submit(
                signer,
                "SubtensorModule",
                call.name,
                call.args,
                finalize_timeout,
            )
            .await?;
        Ok(match call.reveal_round {
            None => Pushed::Set(submitted),
            Some(reveal_round) => Pushed::Committed {
                submitted,
                reveal_round,
            },
        })
    }

    /// What the validator's submission depends on at `block`: the hyperparameters, its uid,
    /// when it last set weights, the epoch the block is in and where the next one starts.
    pub async fn weights_state(
        &self,
        block: BlockRef,
        netuid: NetUid,
        mechid: MechId,
        hotkey: AccountId,
    ) -> Result<WeightsState, ChainError> {
        let index = schedule::netuid_storage_index(netuid, mechid);
        // One block, one connection: this runs at every ingested head.
        self.at(block, |r| async move {
            let m = "SubtensorModule";
            let hyper = r.hyperparams(netuid).await?;
            let next_epoch = r.next_epoch(netuid, hyper.tempo).await?;
            let uid: Option<u16> = r
                .many_opt(
                    m,
                    "Uids",
                    vec![(netuid, subxt::utils::AccountId32(hotkey.0))],
                )
                .await?
                .pop()
                .flatten();
            let last_updates: Vec<u64> = r.get(m, "LastUpdate", (index,)).await?;
            let last_update = uid
                .and_then(|u| last_updates.get(usize::from(u)).copied())
                .unwrap_or(0);
            // The chain's own epoch counter where it has one (dynamic tempo), else the legacy
            // formula the commit-reveal pallet keys commits by.
            let epoch_index = if r.has(m, "SubnetEpochIndex") {
                r.get(m, "SubnetEpochIndex", (netuid,)).await?
            } else {
                schedule::epoch_index(block.number, netuid, hyper.tempo)
            };
            let epoch_start: u64 = r.get(m, "LastMechansimStepBlock", (netuid,)).await?;
            // On commit-reveal subnets `LastUpdate` also moves when a commit of an earlier
            // epoch is revealed: whether we committed in this epoch is read from the commits.
            let committed = if hyper.commit_reveal && r.has(m, "TimelockedWeightCommits") {
                let commits: Vec<([u8; 32], u64, Vec<u8>, u64)> = r
                    .get(m, "TimelockedWeightCommits", (index, epoch_index))
                    .await?;
                commits.iter().any(|c| c.0 == hotkey.0)
            } else {
                false
            };
            Ok(WeightsState {
                hyper,
                uid,
                last_update,
                epoch_index,
                next_epoch,
                epoch_start,
                committed,
            })
        })
        .await
    }

    /// The extrinsic for `req` on a subnet with hyperparameters `h` at `head`: a plain weight
    /// setting, or on commit-reveal subnets the timelocked commit of the same vectors.
    pub async fn weights_call(
        &self,
        head: BlockRef,
        h: &Hyperparams,
        signer: &subxt_signer::sr25519::Keypair,
        beacon: &Beacon,
        req: &WeightsRequest,
        block_time_secs: f64,
    ) -> Result<WeightsCall, ChainError> {
        let list =
            |v: &[u16]| Value::unnamed_composite(v.iter().map(|x| Value::u128(u128::from(*x))));
        let netuid = Value::u128(u128::from(req.netuid));
        let mechid = Value::u128(u128::from(req.mechid));
        let name = method(h.commit_reveal, req.mechid);
        if !h.commit_reveal {
            let mut args = if req.mechid == 0 {
                vec![netuid]
            } else {
                vec![netuid, mechid]
            };
            args.extend([
                list(&req.uids),
                list(&req.weights),
                Value::u128(u128::from(req.version_key)),
            ]);
            return Ok(WeightsCall {
                name,
                args,
                reveal_round: None,
                commit: None,
            });
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
        let mut args = if req.mechid == 0 {
            vec![netuid]
        } else {
            vec![netuid, mechid]
        };
        args.extend([
            Value::from_bytes(commit.clone()),
            Value::u128(u128::from(reveal_round)),
            Value::u128(u128::from(h.commit_reveal_version)),
        ]);
        Ok(WeightsCall {
            name,
            args,
            reveal_round: Some(reveal_round),
            commit: Some(commit),
        })
    }
}

/// The extrinsic that sets (or commits) the weights of one mechanism.
pub fn method(commit_reveal: bool, mechid: MechId) -> &'static str {
    match (commit_reveal, mechid) {
        (false, 0) => "set_weights",
        (false, _) => "set_mechanism_weights",
        (true, 0) => "commit_timelocked_weights",
        (true, _) => "commit_timelocked_mechanism_weights",
    }
}

/// A built weights extrinsic.
#[derive(Debug, Clone)]
pub struct WeightsCall {
    pub name: &'static str,
    pub args: Vec<Value>,
    pub reveal_round: Option<u64>,
    pub commit: Option<Vec<u8>>,
}

/// See [`ChainClient::weights_state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsState {
    pub hyper: Hyperparams,
    pub uid: Option<u16>,
    pub last_update: u64,
    pub epoch_index: u64,
    pub next_epoch: Option<u64>,
    /// The block the current epoch began at: where the subnet's epoch last ran
    /// (`LastMechansimStepBlock`; 0 before the first). Weights with `last_update` at or after it
    /// were set in this epoch.
    pub epoch_start: u64,
    /// Commit-reveal subnets: a timelocked commit of ours is pending for this epoch.
    pub committed: bool,
}

impl Reader {
    /// [`ChainClient::hyperparams`] at this reader's block.
    async fn hyperparams(&self, netuid: NetUid) -> Result<Hyperparams, ChainError> {
        let m = "SubtensorModule";
        Ok(Hyperparams {
            tempo: self.get(m, "Tempo", (netuid,)).await?,
            rate_limit: self.get(m, "WeightsSetRateLimit", (netuid,)).await?,
            version_key: self.get(m, "WeightsVersionKey", (netuid,)).await?,
            commit_reveal: self.get(m, "CommitRevealWeightsEnabled", (netuid,)).await?,
            commit_reveal_version: self.get(m, "CommitRevealWeightsVersion", ()).await?,
            reveal_period_epochs: self.get(m, "RevealPeriodEpochs", (netuid,)).await?,
            min_allowed_weights: self.get(m, "MinAllowedWeights", (netuid,)).await?,
            max_weights_limit: self.get(m, "MaxWeightsLimit", (netuid,)).await?,
        })
    }
}
