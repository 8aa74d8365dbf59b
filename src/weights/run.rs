//! The weights task: once per epoch, `weights.lead_blocks` before the next epoch and never
//! inside the rate limit, compute the weights from what ingestion recorded, store the plan, and
//! push it on chain (plain `set_weights`, or a timelocked commit on commit-reveal subnets),
//! confirming it by the chain's event and `LastUpdate`.
//!
//! Never two submissions for one epoch: the plan's unique key allows one row per epoch; the
//! row becomes `submitted`, with the nonce it is signed with, before the transaction leaves the
//! process; a row found `submitted` (a restart, a lost connection) is reconciled with the chain
//! before anything is sent: landed (`LastUpdate` moved since the plan) ⇒ finalized; otherwise
//! nothing is sent until the first transaction's mortality has passed, and then it is re-sent
//! with the same nonce, so at most one of them can land.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use subxt_signer::sr25519::Keypair;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::inputs;
use super::pipeline::{self, Params};
use super::submission::{self, Change, NewPlan, Status, Submission};
use crate::chain::client::{
    BlockRef, ChainClient, ChainError, Lifetime, MORTAL_BLOCKS, PoolRefusal, Sending, Submitted,
    TxProgress, era_before,
};
use crate::chain::schedule::{self, netuid_storage_index};
use crate::chain::submit::{WeightsCall, WeightsRequest, WeightsState, method};
use crate::chain::types::AccountId;
use crate::drand::Beacon;
use crate::health::Health;
use crate::leader::{Fence, FenceError, Role};
use crate::metrics::{Metrics, ReasonLabels};

/// Readiness check: fails while weights cannot be submitted (no fresh scores, not registered).
pub const CHECK_WEIGHTS: &str = "weights";
/// Readiness check on commit-reveal subnets: fails while the latest settled commit was not
/// revealed as committed.
pub const CHECK_REVEALS: &str = "reveals";
/// Attempts per epoch before the epoch is given up (each one logged with its reason).
pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct Settings {
    pub netuid: u16,
    pub mechid: u8,
    pub lead_blocks: u64,
    pub dry_run: bool,
    pub version_key: Option<u64>,
    pub block_time_secs: f64,
    pub max_total_multiplier: f64,
    pub inputs: inputs::Settings,
    pub finalize_timeout: Duration,
    pub poll: Duration,
}

impl Settings {
    pub fn from_config(c: &crate::config::Config) -> Self {
        Settings {
            netuid: c.chain.netuid,
            mechid: c.chain.mechid,
            lead_blocks: c.weights.lead_blocks,
            dry_run: c.weights.dry_run,
            version_key: c.weights.version_key,
            block_time_secs: c.chain.block_time_secs as f64,
            max_total_multiplier: c.weights.max_total_multiplier,
            inputs: inputs::Settings {
                netuid: c.chain.netuid,
                source: c.scores.source,
                max_age_blocks: c.scores.max_age_blocks,
                exempt: c.weights.exempt_uids.iter().copied().collect(),
                penalty: inputs::PenaltySettings::from_config(c, true),
            },
            // Inclusion plus finality: a few blocks, bounded by the transaction's mortality.
            finalize_timeout: Duration::from_secs(
                (c.chain.block_time_secs * (MORTAL_BLOCKS + 8)).max(30),
            ),
            // One indexed read of the cursor; the step itself runs only on a new head.
            poll: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] crate::vesting::store::StoreError),
    #[error(transparent)]
    Weights(#[from] super::WeightsError),
    #[error(transparent)]
    Fence(#[from] FenceError),
    /// A configuration the chain refuses: stopping beats failing every epoch.
    #[error("{0}")]
    Fatal(String),
}

/// The weights task's state between heads.
pub struct Runner {
    pub client: Arc<ChainClient>,
    pub pool: PgPool,
    pub s: Settings,
    pub signer: Keypair,
    pub beacon: Beacon,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The last reason logged, so a persisting condition is logged once, not every block.
    said: Option<String>,
    /// With HA: the election's role and the lease scope; steps run only while leading.
    lease: Option<(watch::Receiver<Role>, String)>,
    /// The term a step runs under: every submission write checks it.
    fence: Option<Fence>,
    /// Beaten once per loop turn; says what a step waits on (never silent).
    pulse: Arc<crate::pulse::Pulse>,
    /// Steps that failed in a row: two or more fail readiness.
    failures: u32,
    /// The chain epoch whose predecessors were last checked for missed epochs.
    settled: Option<u64>,
    /// The epoch for which "already set in this epoch" was last said.
    noted: Option<u64>,
    /// Whether readiness check [`CHECK_REVEALS`] reflects the latest settled reveal (read once
    /// per lease term, then again only when this instance settles one).
    reveals_read: bool,
}

impl Runner {
    pub fn new(
        client: Arc<ChainClient>,
        pool: PgPool,
        s: Settings,
        signer: Keypair,
        beacon: Beacon,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Self {
        Runner {
            client,
            pool,
            s,
            signer,
            beacon,
            metrics,
            health,
            said: None,
            lease: None,
            fence: None,
            pulse: Arc::default(),
            failures: 0,
            settled: None,
            noted: None,
            reveals_read: false,
        }
    }

    /// Reports progress on `pulse` (watched by [`crate::progress`]).
    pub fn with_pulse(mut self, pulse: Arc<crate::pulse::Pulse>) -> Self {
        self.pulse = pulse;
        self
    }

    /// Submits only while `role` says this instance leads, every write fenced by its term.
    pub fn with_lease(mut self, role: watch::Receiver<Role>, scope: String) -> Self {
        self.lease = Some((role, scope));
        self
    }

    /// The term to run a step under: `Some(None)` without HA, `None` while not leading.
    fn term(&self) -> Option<Option<Fence>> {
        match &self.lease {
            None => Some(None),
            Some((role, scope)) => role.borrow().token().map(|token| {
                Some(Fence {
                    scope: scope.clone(),
                    token,
                })
            }),
        }
    }

    /// The validator's hotkey.
    pub fn who(&self) -> AccountId {
        AccountId(self.signer.public_key().0)
    }

    /// Runs until `cancel`; errors are logged and retried on the next head.
    pub async fn run(mut self, cancel: CancellationToken) -> anyhow::Result<()> {
        let mut last: Option<u64> = None;
        let mut last_at = std::time::Instant::now();
        // Without a new ingested block (ingestion stalled or behind), still a step per block
        // time: the chain's epochs go on, and a missed one must be said.
        let idle_step = Duration::from_secs_f64(self.s.block_time_secs.max(0.1));
        let mut delay = self.s.poll;
        loop {
            self.pulse.at("the next poll");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => return Ok(()),
            }
            self.pulse.beat();
            self.pulse.at("the ingest cursor (database)");
            let head = match cursor(&self.pool, self.s.netuid).await {
                Ok(Some(h)) => h,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "weights: cannot read the ingest cursor");
                    continue;
                }
            };
            let Some(fence) = self.term() else {
                // A standby: the leader submits (it shares this database); readiness is its
                // own business here, so a failover finds this check up to date only once
                // this instance leads.
                if self.fence.take().is_some() || last.is_some() {
                    self.said = None;
                    self.settled = None;
                    self.reveals_read = false;
                    last = None;
                }
                self.health.pass(CHECK_WEIGHTS);
                continue;
            };
            if fence != self.fence {
                // A new term re-reads everything: the previous leader may have written.
                self.fence = fence;
                self.settled = None;
                self.reveals_read = false;
                last = None;
            }
            if last == Some(head.number) && last_at.elapsed() < idle_step {
                continue;
            }
            last_at = std::time::Instant::now();
            // Shutdown does not wait for a step (a submission can take up to its finalization
            // timeout): every write is its own transaction and a row left `submitted` is
            // reconciled with the chain at the next start, exactly as after a crash.
            let stepped = tokio::select! {
                r = self.step(head) => r,
                _ = cancel.cancelled() => {
                    tracing::info!(block = head.number, "shutdown interrupted the weights step; the next start reconciles it");
                    return Ok(());
                }
            };
            self.pulse.beat();
            if stepped.is_ok() {
                last = Some(head.number);
            }
            delay = self.outcome(head, stepped, delay)?;
        }
    }

    /// Counts a step's result (failures in a row fail readiness from the second) and returns
    /// the delay before the next poll: the poll interval, or a doubling backoff after a failure.
    /// A fatal error ends the task.
    fn outcome(
        &mut self,
        head: BlockRef,
        stepped: Result<(), RunError>,
        delay: Duration,
    ) -> anyhow::Result<Duration> {
        if matches!(stepped, Ok(()) | Err(RunError::Fence(_))) {
            self.failures = 0;
        } else {
            self.failures += 1;
        }
        self.metrics
            .guards
            .weights_step_failures
            .set(i64::from(self.failures));
        match stepped {
            Ok(()) => Ok(self.s.poll),
            Err(RunError::Fatal(reason)) => {
                self.health.fail(CHECK_WEIGHTS, reason.clone());
                Err(anyhow::anyhow!(reason))
            }
            Err(RunError::Fence(FenceError::Fenced { token, .. })) => {
                tracing::warn!(
                    token,
                    block = head.number,
                    "weights: the lease term ended mid-step; nothing more is written under it"
                );
                Ok(delay)
            }
            Err(e) => {
                self.metrics
                    .weights
                    .failures
                    .get_or_create(&ReasonLabels {
                        reason: "internal".into(),
                    })
                    .inc();
                tracing::warn!(error = %e, block = head.number, failures = self.failures, "weights step failed; retrying");
                if self.failures >= 2 {
                    // Refusing once can be a blip; twice in a row is a condition.
                    self.health.fail(
                        CHECK_WEIGHTS,
                        format!(
                            "the weights step failed {} times in a row: {e}",
                            self.failures
                        ),
                    );
                }
                Ok((delay * 2).min(Duration::from_secs(10)))
            }
        }
    }

    /// Logs `reason` at warn once until it changes, and fails the readiness check with it.
    fn blocked(&mut self, reason: String) {
        self.health.fail(CHECK_WEIGHTS, reason.clone());
        if self.said.as_ref() != Some(&reason) {
            tracing::warn!(reason = %reason, "weights are not submitted");
            self.said = Some(reason);
        }
    }

    fn unblocked(&mut self) {
        self.health.pass(CHECK_WEIGHTS);
        self.said = None;
    }

    /// One step: the chain's finalized head decides the epoch, its window and the rate limit;
    /// the ingested head `cursor` supplies the inputs (the multipliers of the epoch the chain is
    /// in, once ingestion has reached its start).
    pub async fn step(&mut self, cursor: BlockRef) -> Result<(), RunError> {
        let (netuid, mechid) = (self.s.netuid, self.s.mechid);
        self.pulse.at("the chain's finalized head");
        let head = self.client.finalized_head().await?;
        self.pulse.at(format!(
            "the chain's weights state at block {}",
            head.number
        ));
        let st = self
            .client
            .weights_state(head, netuid, mechid, self.who())
            .await?;
        if st.last_update > 0 {
            self.metrics
                .weights
                .blocks_since_update
                .set(head.number.saturating_sub(st.last_update) as i64);
        }
        if st.uid.is_none() {
            self.blocked(format!(
                "the validator hotkey {} is not registered on netuid {netuid}",
                self.who().to_ss58()
            ));
            return Ok(());
        }
        let Some(next) = st.next_epoch else {
            self.blocked(format!("netuid {netuid} has tempo 0: no epochs"));
            return Ok(());
        };
        let version_key = self.version_key(&st)?;
        let in_window = head.number + self.s.lead_blocks >= next;
        // Earlier epochs first: an epoch missed is recorded with the reason said while it
        // lasted, not with this epoch's.
        self.pulse.at("settling earlier epochs");
        let carried = self.settle(head, &st, version_key).await?;
        self.pulse.at("the freshness of the base scores (database)");
        let reason = self.hold_reason(cursor, &st, in_window).await?;
        match reason {
            Some(r) => self.blocked(r),
            None => self.unblocked(),
        }
        self.pulse
            .at("settling the reveals of earlier commits (database)");
        self.settle_reveals(cursor, &st).await?;
        if let Some(sub) = submission::get(&self.pool, netuid, mechid, st.epoch_index).await? {
            self.pulse
                .at(format!("the submission of epoch {}", st.epoch_index));
            return self.advance(sub, head, &st, next, carried).await;
        }
        if !in_window || !self.may_send(head, &st, next) || self.said.is_some() {
            return Ok(());
        }
        self.pulse.at("the inputs of the weights (database)");
        self.plan_and_send(cursor, head, &st, version_key, carried)
            .await
    }

    /// The version key to submit with: the configured one (never below the chain's), else the
    /// chain's.
    fn version_key(&self, st: &WeightsState) -> Result<u64, RunError> {
        match self.s.version_key {
            Some(k) if st.hyper.version_key != 0 && k < st.hyper.version_key => {
                Err(RunError::Fatal(format!(
                    "weights.version_key = {k} is below the chain's WeightsVersionKey {}: every submission would fail with IncorrectWeightVersionKey",
                    st.hyper.version_key
                )))
            }
            Some(k) => Ok(k),
            None => Ok(st.hyper.version_key),
        }
    }

    /// Why weights cannot be planned now, if anything: no fresh scores (checked at every head,
    /// so readiness says it before the epoch needs it), or — inside the window — ingestion
    /// that has not reached the start of the chain's current epoch (its multipliers would be
    /// the previous epoch's).
    async fn hold_reason(
        &mut self,
        cursor: BlockRef,
        st: &WeightsState,
        in_window: bool,
    ) -> Result<Option<String>, RunError> {
        let fresh = super::scores::freshness(
            &self.pool,
            self.s.netuid,
            self.s.inputs.source,
            cursor.number,
            self.s.inputs.max_age_blocks,
        )
        .await?;
        self.metrics.weights.fresh_scores.set(fresh.fresh as i64);
        if let Some(r) = fresh.none_reason(
            self.s.inputs.source,
            cursor.number,
            self.s.inputs.max_age_blocks,
        ) {
            return Ok(Some(r));
        }
        Ok((in_window && st.epoch_start > cursor.number).then(|| {
            // Stable while it lasts (no moving block number), so it is logged once.
            format!(
                "ingestion has not reached the start of the chain's epoch {} (block {}): the weights wait for its multipliers",
                st.epoch_index, st.epoch_start
            )
        }))
    }

    /// Whether a new transaction may be started for the chain's current epoch at `head`: not
    /// when our weights are already in this epoch (a late landing of an earlier submission),
    /// not so close to the next epoch that it would land after it, never inside the rate limit.
    fn may_send(&mut self, head: BlockRef, st: &WeightsState, next: u64) -> bool {
        // On commit-reveal subnets the reveal of the previous epoch's commit moves `LastUpdate`
        // into this epoch too: only a pending commit of this epoch says ours is in.
        let ours_in = if st.hyper.commit_reveal {
            st.committed
        } else {
            st.epoch_start > 0 && st.last_update >= st.epoch_start
        };
        if ours_in {
            if self.noted != Some(st.epoch_index) {
                self.noted = Some(st.epoch_index);
                tracing::info!(
                    epoch = st.epoch_index,
                    last_update = st.last_update,
                    epoch_start = st.epoch_start,
                    "our weights are already in this epoch; nothing more is sent until the next"
                );
            }
            return false;
        }
        if head.number + SEND_MARGIN_BLOCKS >= next {
            return false;
        }
        if st.last_update != 0 && head.number - st.last_update < st.hyper.rate_limit {
            if st.last_update + st.hyper.rate_limit >= next {
                tracing::warn!(
                    last_update = st.last_update,
                    rate_limit = st.hyper.rate_limit,
                    next_epoch = next,
                    "the rate limit leaves no room to submit before the next epoch"
                );
            }
            return false;
        }
        true
    }

    /// Settles the rows of earlier epochs (landed, or missed) and records epochs that had no
    /// plan as missed. Returns a nonce an earlier, unlanded transaction may still hold: this
    /// epoch's submission takes it, so at most one of the two can land.
    async fn settle(
        &mut self,
        head: BlockRef,
        st: &WeightsState,
        version_key: u64,
    ) -> Result<Option<u64>, RunError> {
        let (netuid, mechid) = (self.s.netuid, self.s.mechid);
        let mut carried = None;
        for old in submission::unsettled(&self.pool, netuid, mechid, st.epoch_index).await? {
            if let Some(n) = self.reconcile(&old, head, st, None).await? {
                carried = Some(n);
            }
        }
        if self.settled == Some(st.epoch_index) {
            return Ok(carried);
        }
        let reason = match &self.said {
            Some(r) => format!("no submission was planned: {r}"),
            None => "no submission was planned in its window (the daemon was not running or not leading, or ingestion was behind)".into(),
        };
        let missed = submission::record_missed(
            &self.pool,
            &submission::Missed {
                netuid,
                mechid,
                epoch_index: st.epoch_index,
                head: head.number,
                method: method(st.hyper.commit_reveal, mechid),
                version_key,
                reason: &reason,
            },
            self.fence.as_ref(),
        )
        .await?;
        if !missed.is_empty() {
            self.metrics
                .guards
                .weights_missed
                .inc_by(missed.len() as u64);
            tracing::warn!(epochs = ?missed, %reason, "epochs recorded as missed");
        }
        self.settled = Some(st.epoch_index);
        Ok(carried)
    }

    /// Settles finalized timelocked commits whose reveal the ingested chain shows, or whose
    /// reveal epoch ingestion has passed: `revealed` when the chain revealed the commit and
    /// stored exactly the committed weights, `reveal_missed` (with what was seen) otherwise.
    /// Readiness check [`CHECK_REVEALS`] says whether the latest settled commit was revealed.
    async fn settle_reveals(
        &mut self,
        cursor: BlockRef,
        st: &WeightsState,
    ) -> Result<(), RunError> {
        let (netuid, mechid) = (self.s.netuid, self.s.mechid);
        let index = netuid_storage_index(netuid, mechid);
        let hotkey = self.who().to_ss58();
        for sub in submission::awaiting_reveal(&self.pool, netuid, mechid).await? {
            let Some(committed_in) = sub.in_block_number else {
                continue;
            };
            let tempo = st.hyper.tempo;
            let epoch =
                schedule::epoch_index(committed_in, netuid, tempo) + st.hyper.reveal_period_epochs;
            let window = schedule::epoch_blocks(epoch, netuid, tempo);
            let found = submission::reveal_in(&self.pool, netuid, index, &hotkey, window).await?;
            let verdict = match &found {
                Some(r) => reveal_verdict(&sub, r),
                None if cursor.number >= window.1 => Err(format!(
                    "no TimelockedWeightsRevealed for {hotkey} in its reveal epoch {epoch} (blocks {}..={}, committed in block {committed_in} for drand round {})",
                    window.0,
                    window.1,
                    sub.reveal_round.unwrap_or_default()
                )),
                None => continue,
            };
            self.record_reveal(&sub, found.as_ref().map(|r| r.block), verdict)
                .await?;
            self.reveals_read = false;
        }
        if self.reveals_read {
            return Ok(());
        }
        let last = submission::last_reveal(&self.pool, netuid, mechid).await?;
        self.reveals_read = true;
        match last {
            Some((epoch, Status::RevealMissed, reason)) => self.health.fail(
                CHECK_REVEALS,
                format!(
                    "the commit of epoch {epoch} was not revealed as committed: {}",
                    reason.unwrap_or_default()
                ),
            ),
            Some(_) => self.health.pass(CHECK_REVEALS),
            None => {}
        }
        Ok(())
    }

    /// Records a reveal's verdict: `Ok(detail)` revealed, `Err(reason)` missed.
    async fn record_reveal(
        &mut self,
        sub: &Submission,
        block: Option<u64>,
        verdict: Result<String, String>,
    ) -> Result<(), RunError> {
        let (to, change, detail) = match &verdict {
            Ok(detail) => (
                Status::Revealed,
                Change {
                    revealed_block: block,
                    ..Change::default()
                },
                detail.clone(),
            ),
            Err(reason) => (
                Status::RevealMissed,
                Change {
                    revealed_block: block,
                    error: Some(reason.clone()),
                    retryable: Some(false),
                    ..Change::default()
                },
                reason.clone(),
            ),
        };
        let moved = submission::transition(
            &self.pool,
            sub.id,
            &[Status::Finalized],
            to,
            change,
            &detail,
            self.fence.as_ref(),
        )
        .await?;
        if !moved {
            return Ok(());
        }
        match verdict {
            Ok(_) => {
                self.metrics.guards.weights_revealed.inc();
                tracing::info!(epoch = sub.epoch_index, block = ?block, "weights revealed on chain as committed");
            }
            Err(reason) => {
                self.metrics.guards.weights_reveal_missed.inc();
                tracing::error!(epoch = sub.epoch_index, %reason, "weights commit not revealed as committed");
            }
        }
        Ok(())
    }

    /// Computes this epoch's weights from what ingestion recorded up to `cursor`, stores the
    /// plan and sends it.
    async fn plan_and_send(
        &mut self,
        cursor: BlockRef,
        head: BlockRef,
        st: &WeightsState,
        version_key: u64,
        carried: Option<u64>,
    ) -> Result<(), RunError> {
        let (netuid, mechid) = (self.s.netuid, self.s.mechid);
        let loaded = {
            let mut tx = self.pool.begin().await?;
            let l = inputs::load(&mut tx, &self.s.inputs, cursor.number).await?;
            tx.commit().await?;
            l
        };
        let params = Params {
            max_total_multiplier: self.s.max_total_multiplier,
            min_allowed_weights: st.hyper.min_allowed_weights,
            max_weights_limit: st.hyper.max_weights_limit,
        };
        let plan = pipeline::compute(&params, loaded.inputs)?;
        let mut detail = format!(
            "{} uids, {} weights, vesting epoch {:?}, uptime epoch {:?}, MinAllowedWeights {}, MaxWeightsLimit {}, chain head {}, ingested {}",
            plan.entries.len(),
            plan.uids().len(),
            loaded.vesting_epoch,
            loaded.uptime_epoch,
            st.hyper.min_allowed_weights,
            st.hyper.max_weights_limit,
            head.number,
            cursor.number
        );
        if let Some(p) = &plan.emitted.padding {
            detail.push_str(&format!(
                "; padded every uid with 1e-5 (SDK 10): {}",
                p.reason
            ));
        }
        let epoch_block = loaded
            .vesting_epoch
            .max(loaded.uptime_epoch)
            .unwrap_or(cursor.number);
        let new = NewPlan {
            netuid,
            mechid,
            epoch_index: st.epoch_index,
            epoch_block,
            planned_block: head.number,
            method: method(st.hyper.commit_reveal, mechid),
            dry_run: self.s.dry_run,
            version_key,
            max_total_multiplier: self.s.max_total_multiplier,
            plan: &plan,
            detail,
            uptime_epoch: loaded.uptime_epoch,
            min_allowed_weights: st.hyper.min_allowed_weights,
            max_weights_limit: st.hyper.max_weights_limit,
        };
        let Some(id) = submission::plan(&self.pool, &new, self.fence.as_ref()).await? else {
            return Ok(());
        };
        self.metrics.weights.epoch.set(st.epoch_index as i64);
        tracing::info!(
            epoch = st.epoch_index,
            block = head.number,
            ingested = cursor.number,
            next_epoch = st.next_epoch,
            weights = plan.uids().len(),
            dry_run = self.s.dry_run,
            "weights planned"
        );
        if self.s.dry_run {
            return Ok(());
        }
        let sub = submission::by_id(&self.pool, id).await?;
        self.pulse
            .at(format!("the submission of epoch {}", st.epoch_index));
        self.send(&sub, head, st, carried).await
    }

    /// An epoch that already has a row.
    async fn advance(
        &mut self,
        sub: Submission,
        head: BlockRef,
        st: &WeightsState,
        next: u64,
        carried: Option<u64>,
    ) -> Result<(), RunError> {
        if sub.dry_run {
            return Ok(());
        }
        match sub.status {
            Status::Finalized | Status::Missed | Status::Revealed | Status::RevealMissed => Ok(()),
            Status::Planned => self.send(&sub, head, st, carried).await,
            Status::Submitted | Status::InBlock => {
                self.reconcile(&sub, head, st, Some(next)).await.map(|_| ())
            }
            Status::Failed => {
                if self.landed(&sub, head, st).await? {
                    return Ok(());
                }
                let again = sub.retryable == Some(true)
                    && sub.attempts < MAX_ATTEMPTS
                    && head.number + SEND_MARGIN_BLOCKS < next
                    && head.number > sub.submitted_block.unwrap_or(0) + 1
                    && (st.last_update == 0 || head.number - st.last_update >= st.hyper.rate_limit);
                if again {
                    // The earlier attempt's nonce again, unless the chain used it up: a
                    // transaction of that attempt still in some pool can then never land
                    // beside this one.
                    let nonce = if sub.error.as_deref().is_some_and(nonce_consumed) {
                        carried
                    } else {
                        sub.nonce.or(carried)
                    };
                    self.send(&sub, head, st, nonce).await
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Whether the chain shows our weights landed since `sub` was planned; marks it finalized
    /// if so.
    async fn landed(
        &self,
        sub: &Submission,
        head: BlockRef,
        st: &WeightsState,
    ) -> Result<bool, RunError> {
        if st.last_update == 0 || st.last_update < sub.planned_block {
            return Ok(false);
        }
        let block = self.client.block_hash(st.last_update).await?;
        let moved = submission::transition(
            &self.pool,
            sub.id,
            &[
                Status::Submitted,
                Status::InBlock,
                Status::Failed,
                Status::Planned,
            ],
            Status::Finalized,
            Change {
                in_block: Some((block.number, block.hash)),
                ..Change::default()
            },
            &format!(
                "confirmed by LastUpdate = {} at finalized block {}",
                st.last_update, head.number
            ),
            self.fence.as_ref(),
        )
        .await?;
        if moved {
            self.metrics.weights.finalized.inc();
            tracing::info!(
                epoch = sub.epoch_index,
                block = block.number,
                "weights confirmed on chain by LastUpdate"
            );
        }
        Ok(true)
    }

    /// A row that may have a transaction out there. For an earlier epoch (`next` = `None`)
    /// that did not land, returns the nonce its transaction may still hold.
    async fn reconcile(
        &mut self,
        sub: &Submission,
        head: BlockRef,
        st: &WeightsState,
        next: Option<u64>,
    ) -> Result<Option<u64>, RunError> {
        if self.landed(sub, head, st).await? {
            return Ok(None);
        }
        let Some(next) = next else {
            let in_flight = matches!(sub.status, Status::Submitted | Status::InBlock);
            // An earlier epoch that never landed: its chance is gone, and nothing is sent late.
            let reason = match &sub.error {
                Some(e) => format!("the epoch ended before the weights landed (last error: {e})"),
                None => "the epoch ended before the weights landed".into(),
            };
            let moved = submission::transition(
                &self.pool,
                sub.id,
                &[
                    Status::Planned,
                    Status::Submitted,
                    Status::InBlock,
                    Status::Failed,
                ],
                Status::Missed,
                Change {
                    error: Some(reason.clone()),
                    retryable: Some(false),
                    ..Change::default()
                },
                "epoch over",
                self.fence.as_ref(),
            )
            .await?;
            if moved {
                self.metrics.guards.weights_missed.inc();
                tracing::warn!(epoch = sub.epoch_index, %reason, "epoch missed");
            }
            return Ok(if in_flight { sub.nonce } else { None });
        };
        if !matches!(sub.status, Status::Submitted | Status::InBlock) {
            return Ok(None);
        }
        let Some(nonce) = sub.nonce else {
            return Ok(None);
        };
        let signed_at = sub.submitted_block.unwrap_or(sub.planned_block);
        if head.number > signed_at + RESEND_AFTER_BLOCKS && head.number + SEND_MARGIN_BLOCKS < next
        {
            // Not landed: the transaction never left (a restart between the row and the
            // network), is still in a pool, or failed in its block. Re-sent with the same
            // nonce, so that whatever happened to the first, at most one can land: a pool that
            // holds the first refuses the copy, a nonce already used is refused as outdated
            // (and the next attempt takes a fresh one).
            self.send(sub, head, st, Some(nonce)).await?;
        }
        Ok(None)
    }

    async fn fail(
        &self,
        sub: &Submission,
        error: String,
        reason: &str,
        retryable: bool,
    ) -> Result<(), RunError> {
        self.metrics
            .weights
            .failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
        tracing::warn!(epoch = sub.epoch_index, attempt = sub.attempts, retryable, error = %error, "weights submission failed");
        submission::transition(
            &self.pool,
            sub.id,
            &[Status::Planned, Status::Submitted, Status::InBlock],
            Status::Failed,
            Change {
                error: Some(error.clone()),
                retryable: Some(retryable),
                ..Change::default()
            },
            &format!("{reason}: {error}"),
            self.fence.as_ref(),
        )
        .await?;
        Ok(())
    }

    /// Signs and sends `sub` (with `nonce`, or the account's next one), recording each step.
    async fn send(
        &mut self,
        sub: &Submission,
        head: BlockRef,
        st: &WeightsState,
        nonce: Option<u64>,
    ) -> Result<(), RunError> {
        // The transaction's era ends where this epoch does: however late it reaches a pool,
        // the chain cannot include it in the next epoch, beside that epoch's own weights.
        let Some((birth, blocks)) = st.next_epoch.and_then(|next| era_before(head.number, next))
        else {
            tracing::warn!(epoch = sub.epoch_index, block = head.number, next_epoch = ?st.next_epoch, "no transaction era ends inside this epoch; nothing is sent");
            return Ok(());
        };
        let birth = if birth == head.number {
            head
        } else {
            self.client.block_hash(birth).await?
        };
        let lifetime = Lifetime::From { birth, blocks };
        let nonce = match nonce {
            Some(n) => n,
            None => self.client.next_nonce(self.who()).await?,
        };
        let Some(call) = self.build(sub, head, st).await? else {
            return Ok(());
        };
        let moved = submission::transition(
            &self.pool,
            sub.id,
            &[
                Status::Planned,
                Status::Failed,
                Status::Submitted,
                Status::InBlock,
            ],
            Status::Submitted,
            Change {
                nonce: Some(nonce),
                reveal_round: call.reveal_round,
                commit: call.commit.clone(),
                attempt: Some(head.number),
                ..Change::default()
            },
            &format!(
                "attempt {}: {} signed with nonce {nonce} at block {}, valid through block {}",
                sub.attempts + 1,
                call.name,
                head.number,
                lifetime.last_block().unwrap_or_default()
            ),
            self.fence.as_ref(),
        )
        .await?;
        if !moved {
            return Ok(());
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (name, reveal_round) = (call.name, call.reveal_round);
        let result = {
            let sending = Sending {
                nonce,
                lifetime,
                finalize_timeout: self.s.finalize_timeout,
            };
            let pushed = self.client.submit_tracked(
                &self.signer,
                "SubtensorModule",
                call.name,
                call.args,
                sending,
                Some(tx),
            );
            tokio::pin!(pushed);
            loop {
                tokio::select! {
                    r = &mut pushed => break r,
                    Some(p) = rx.recv() => self.progress(sub.id, p).await?,
                }
            }
        };
        while let Ok(p) = rx.try_recv() {
            self.progress(sub.id, p).await?;
        }
        match result {
            Ok(done) => self.confirm(sub, name, reveal_round, done).await,
            Err(e) => self.attempt_failed(sub, e).await,
        }
    }

    /// The extrinsic for `sub` at `head`: `None` (and the row failed) when it cannot be built.
    async fn build(
        &mut self,
        sub: &Submission,
        head: BlockRef,
        st: &WeightsState,
    ) -> Result<Option<WeightsCall>, RunError> {
        let req = WeightsRequest {
            netuid: self.s.netuid,
            mechid: self.s.mechid,
            uids: sub.uids.clone(),
            weights: sub.weights.clone(),
            version_key: sub.version_key,
        };
        let built = self
            .client
            .weights_call(
                head,
                &st.hyper,
                &self.signer,
                &self.beacon,
                &req,
                self.s.block_time_secs,
            )
            .await;
        match built {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                self.fail(sub, e.to_string(), "Build", false).await?;
                Ok(None)
            }
        }
    }

    /// A finalized attempt counts only with the chain's own event and `LastUpdate` equal to
    /// its block.
    async fn confirm(
        &mut self,
        sub: &Submission,
        name: &'static str,
        reveal_round: Option<u64>,
        done: Submitted,
    ) -> Result<(), RunError> {
        let expected = if reveal_round.is_some() {
            "SubtensorModule.TimelockedWeightsCommitted"
        } else {
            "SubtensorModule.WeightsSet"
        };
        let at = self
            .client
            .weights_state(done.block, self.s.netuid, self.s.mechid, self.who())
            .await?;
        if !done.events.iter().any(|e| e == expected) || at.last_update != done.block.number {
            let why = format!(
                "finalized in block {} without {expected} and LastUpdate = that block (events {:?}, LastUpdate {})",
                done.block.number, done.events, at.last_update
            );
            return self.fail(sub, why, "Unconfirmed", true).await;
        }
        submission::transition(
            &self.pool,
            sub.id,
            &[Status::Submitted, Status::InBlock],
            Status::Finalized,
            Change {
                in_block: Some((done.block.number, done.block.hash)),
                ..Change::default()
            },
            &format!(
                "finalized in block {}: {expected}, LastUpdate = {}",
                done.block.number, at.last_update
            ),
            self.fence.as_ref(),
        )
        .await?;
        self.metrics.weights.finalized.inc();
        self.metrics.weights.blocks_since_update.set(0);
        tracing::info!(epoch = sub.epoch_index, block = done.block.number, method = name, reveal_round = ?reveal_round, "weights finalized on chain");
        Ok(())
    }

    /// A failed attempt: recorded as failed, unless its outcome is unknown (transport trouble,
    /// or a transaction with the same nonce pending), which the next head reconciles.
    async fn attempt_failed(&mut self, sub: &Submission, e: ChainError) -> Result<(), RunError> {
        let (reason, retryable) = classify(&e);
        let unknown_outcome = e.is_transient()
            || matches!(
                &e,
                ChainError::Invalid {
                    refusal: PoolRefusal::PriorityTooLow,
                    ..
                }
            );
        if !unknown_outcome {
            return self.fail(sub, e.to_string(), reason, retryable).await;
        }
        tracing::warn!(error = %e, "weights submission outcome unknown; reconciling on the next block");
        self.metrics
            .weights
            .failures
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
        Ok(())
    }

    async fn progress(&self, id: i64, p: TxProgress) -> Result<(), RunError> {
        match p {
            TxProgress::Pooled { extrinsic_hash } => {
                submission::transition(
                    &self.pool,
                    id,
                    &[Status::Submitted],
                    Status::Submitted,
                    Change {
                        extrinsic_hash: Some(extrinsic_hash),
                        ..Change::default()
                    },
                    &format!("accepted by the pool: 0x{}", hex::encode(extrinsic_hash)),
                    self.fence.as_ref(),
                )
                .await?;
            }
            TxProgress::InBlock { block_hash } => {
                submission::transition(
                    &self.pool,
                    id,
                    &[Status::Submitted],
                    Status::InBlock,
                    Change::default(),
                    &format!("in best block 0x{}", hex::encode(block_hash)),
                    self.fence.as_ref(),
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// Whether a reveal stored what `sub` committed: `Ok(detail)` or `Err(reason)`.
fn reveal_verdict(sub: &Submission, r: &submission::Reveal) -> Result<String, String> {
    let Some((dests, values)) = &r.stored else {
        return Ok(format!(
            "revealed in block {} (TimelockedWeightsRevealed); the stored Weights were not read: the block was ingested without the validator's hotkey",
            r.block
        ));
    };
    if (dests, values) == (&sub.uids, &sub.weights) {
        return Ok(format!(
            "revealed in block {}: TimelockedWeightsRevealed, and Weights equal the {} committed u16 weights",
            r.block,
            dests.len()
        ));
    }
    let first = dests
        .iter()
        .zip(values)
        .zip(sub.uids.iter().zip(&sub.weights))
        .position(|(a, b)| a != (b.0, b.1))
        .unwrap_or(dests.len().min(sub.uids.len()));
    Err(format!(
        "revealed in block {}, but the chain's Weights differ from the commit: {} stored against {} committed, first difference at position {first}",
        r.block,
        dests.len(),
        sub.uids.len()
    ))
}

/// No transaction is started this close to the next epoch: with the node's finality lag and
/// inclusion it would land in the next epoch, beside that epoch's own submission.
pub const SEND_MARGIN_BLOCKS: u64 = 3;

/// Blocks after an attempt without our weights landing before the same nonce is sent again.
const RESEND_AFTER_BLOCKS: u64 = 2;

/// Whether a failed attempt used up its nonce (it reached a block, or the pool calls the nonce
/// outdated): only then may the next attempt take a fresh one.
fn nonce_consumed(error: &str) -> bool {
    error.contains("failed in block") || error.contains("outdated")
}

/// A failed submission's reason label (the chain's own error name where there is one) and
/// whether a later attempt in the same epoch may succeed.
pub fn classify(e: &ChainError) -> (&'static str, bool) {
    match e {
        ChainError::Unreachable { .. } | ChainError::Timeout { .. } | ChainError::Rpc { .. } => {
            ("Transport", true)
        }
        ChainError::Invalid { refusal, .. } => match refusal {
            PoolRefusal::PriorityTooLow => ("Priority is too low", true),
            PoolRefusal::Outdated => ("outdated", true),
            PoolRefusal::Future => ("in the future", true),
            PoolRefusal::AncientBirthBlock => ("ancient birth block", true),
            PoolRefusal::Custom(name) => {
                subtensor_error(name).unwrap_or(("InvalidTransaction", true))
            }
            PoolRefusal::Other => ("InvalidTransaction", true),
        },
        ChainError::Module { pallet, error, .. } if pallet == "SubtensorModule" => {
            subtensor_error(error).unwrap_or(("DispatchError", false))
        }
        ChainError::Module { .. } | ChainError::Dispatch(_) => ("DispatchError", false),
        ChainError::UnknownBlock(_)
        | ChainError::StatePruned { .. }
        | ChainError::Decode { .. }
        | ChainError::Build(_) => ("Other", false),
    }
}

/// subtensor's errors worth telling apart when setting weights, and whether they may pass
/// later in the same epoch (rate limits, reveal timing) or not (permits, registration, vectors).
fn subtensor_error(name: &str) -> Option<(&'static str, bool)> {
    let known = match name {
        "SettingWeightsTooFast" => ("SettingWeightsTooFast", true),
        "CommittingWeightsTooFast" => ("CommittingWeightsTooFast", true),
        "TooManyUnrevealedCommits" => ("TooManyUnrevealedCommits", true),
        "InvalidRevealRound" => ("InvalidRevealRound", true),
        "CommitRevealEnabled" => ("CommitRevealEnabled", true),
        "CommitRevealDisabled" => ("CommitRevealDisabled", true),
        "IncorrectWeightVersionKey" => ("IncorrectWeightVersionKey", false),
        "NeuronNoValidatorPermit" => ("NeuronNoValidatorPermit", false),
        "NotEnoughStakeToSetWeights" => ("NotEnoughStakeToSetWeights", false),
        "HotKeyNotRegisteredInSubNet" => ("HotKeyNotRegisteredInSubNet", false),
        "WeightVecLengthIsLow" => ("WeightVecLengthIsLow", false),
        "UidVecContainInvalidOne" => ("UidVecContainInvalidOne", false),
        "MaxWeightExceeded" => ("MaxWeightExceeded", false),
        "DuplicateUids" => ("DuplicateUids", false),
        "UidsLengthExceedUidsInSubNet" => ("UidsLengthExceedUidsInSubNet", false),
        "IncorrectCommitRevealVersion" => ("IncorrectCommitRevealVersion", false),
        _ => return None,
    };
    Some(known)
}

/// The ingested head, as the ingest cursor has it.
pub async fn cursor(pool: &PgPool, netuid: u16) -> Result<Option<BlockRef>, sqlx::Error> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT block_number, block_hash FROM ingest_cursor WHERE netuid = $1")
            .bind(i32::from(netuid))
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(n, h)| {
        let mut hash = [0u8; 32];
        let len = h.len().min(32);
        hash[..len].copy_from_slice(&h[..len]);
        BlockRef {
            number: n as u64,
            hash,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_the_chains_names() {
        let m = |pallet: &str, error: &str| ChainError::Module {
            pallet: pallet.into(),
            error: error.into(),
            block: 7,
        };
        assert_eq!(
            classify(&m("SubtensorModule", "SettingWeightsTooFast")),
            ("SettingWeightsTooFast", true)
        );
        assert_eq!(
            classify(&m("SubtensorModule", "NeuronNoValidatorPermit")),
            ("NeuronNoValidatorPermit", false)
        );
        // Another pallet's error of the same name is not subtensor's.
        assert_eq!(
            classify(&m("Balances", "SettingWeightsTooFast")),
            ("DispatchError", false)
        );
        let pool = |message: &str| ChainError::Invalid {
            refusal: PoolRefusal::parse(message),
            message: message.into(),
        };
        assert_eq!(
            classify(&pool("Transaction is outdated")),
            ("outdated", true)
        );
        assert_eq!(
            classify(&pool(
                "Invalid Transaction (1010): Custom error: InvalidRevealRound (x)"
            )),
            ("InvalidRevealRound", true)
        );
        assert_eq!(
            classify(&pool("Invalid Transaction (1010): Custom error: 5")),
            ("InvalidTransaction", true)
        );
        assert_eq!(
            classify(&pool("Priority is too low (1014)")),
            ("Priority is too low", true)
        );
        assert_eq!(
            classify(&ChainError::Timeout {
                what: "x".into(),
                secs: 1
            }),
            ("Transport", true)
        );
    }
}
