-- tenure: initial schema.
--
-- Conventions
-- * Every table is keyed by netuid, so several daemons (one per subnet) can share a database.
-- * Accounts (hotkeys, coldkeys) are SS58 text (prefix 42): what operators paste into SQL.
-- * Amounts are integer RAO in BIGINT (1 alpha = 1e9 RAO). The whole alpha supply, 21e6 alpha
--   = 2.1e16 RAO, fits in BIGINT's 9.2e18 with room; nothing is ever stored as a float.
-- * Blocks are BIGINT block numbers; a chain day is floor(block / 7200), a chain hour
--   floor(block / 300).
-- * Multipliers, uptime ratios and scores are DOUBLE PRECISION: they are derived values,
--   recorded for explanation, never summed back into balances.

-- ---------------------------------------------------------------------------------------------
-- Chain progress
-- ---------------------------------------------------------------------------------------------

-- One row per ingested finalized block.
CREATE TABLE blocks (
    netuid        INTEGER     NOT NULL CHECK (netuid BETWEEN 0 AND 65535),
    number        BIGINT      NOT NULL CHECK (number >= 0),
    hash          BYTEA       NOT NULL CHECK (length(hash) = 32),
    parent_hash   BYTEA       NOT NULL CHECK (length(parent_hash) = 32),
    -- Timestamp.Now of the block, milliseconds since the Unix epoch (UTC).
    timestamp_ms  BIGINT      NOT NULL,
    spec_version  INTEGER     NOT NULL,
    -- LastMechansimStepBlock == number: the subnet's epoch ran in this block.
    epoch_ran     BOOLEAN     NOT NULL DEFAULT FALSE,
    -- Rows the ingest transaction wrote for this block (observability).
    rows_written  INTEGER     NOT NULL DEFAULT 0,
    ingested_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (netuid, number)
);
CREATE INDEX blocks_epochs ON blocks (netuid, number) WHERE epoch_ran;

-- The last block fully ingested, advanced in the same transaction as the block's rows.
CREATE TABLE ingest_cursor (
    netuid       INTEGER     PRIMARY KEY CHECK (netuid BETWEEN 0 AND 65535),
    block_number BIGINT      NOT NULL,
    block_hash   BYTEA       NOT NULL CHECK (length(block_hash) = 32),
    -- Where this database's history begins: what happened before it is unknown.
    first_block  BIGINT      NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Epochs seen (LastMechansimStepBlock == block).
CREATE TABLE epochs (
    netuid       INTEGER NOT NULL,
    block        BIGINT  NOT NULL,
    -- Legacy rule: (block + netuid + 1) / (tempo + 1); SubnetEpochIndex where the chain has it.
    epoch_index  BIGINT  NOT NULL,
    tempo        INTEGER NOT NULL,
    PRIMARY KEY (netuid, block)
);
CREATE UNIQUE INDEX epochs_index ON epochs (netuid, epoch_index);

-- ---------------------------------------------------------------------------------------------
-- Identity: miners and their owners
-- ---------------------------------------------------------------------------------------------

-- A miner is (netuid, hotkey, registered_at_block). A uid is only a slot: re-registering it to
-- another hotkey starts a new miner with no history.
CREATE TABLE miners (
    id                    BIGSERIAL PRIMARY KEY,
    netuid                INTEGER NOT NULL CHECK (netuid BETWEEN 0 AND 65535),
    hotkey                TEXT    NOT NULL,
    uid                   INTEGER NOT NULL CHECK (uid BETWEEN 0 AND 65535),
    registered_at_block   BIGINT  NOT NULL,
    -- The block tenure first saw the miner (later than registration on a first start).
    first_seen_block      BIGINT  NOT NULL,
    deregistered_at_block BIGINT,
    UNIQUE (netuid, hotkey, registered_at_block)
);
-- At most one live miner per uid slot.
CREATE UNIQUE INDEX miners_live_uid ON miners (netuid, uid) WHERE deregistered_at_block IS NULL;
CREATE INDEX miners_hotkey ON miners (netuid, hotkey);

-- Validator permits change per epoch; recorded per miner whenever they change.
CREATE TABLE validator_permits (
    netuid    INTEGER NOT NULL,
    miner_id  BIGINT  NOT NULL REFERENCES miners (id),
    block     BIGINT  NOT NULL,
    permitted BOOLEAN NOT NULL,
    PRIMARY KEY (miner_id, block)
);

-- Owner(hotkey) over time. The open row (to_block IS NULL) is the current owner.
CREATE TABLE hotkey_owners (
    netuid     INTEGER NOT NULL,
    hotkey     TEXT    NOT NULL,
    coldkey    TEXT    NOT NULL,
    from_block BIGINT  NOT NULL,
    to_block   BIGINT,
    reason     TEXT    NOT NULL
        CHECK (reason IN ('snapshot', 'registration', 'owner_change', 'coldkey_swap', 'hotkey_swap')),
    PRIMARY KEY (netuid, hotkey, from_block),
    CHECK (to_block IS NULL OR to_block >= from_block)
);
CREATE UNIQUE INDEX hotkey_owners_open ON hotkey_owners (netuid, hotkey) WHERE to_block IS NULL;
CREATE INDEX hotkey_owners_coldkey ON hotkey_owners (netuid, coldkey);

-- ColdkeySwapped: the new coldkey takes over the old one's whole history (same person).
CREATE TABLE coldkey_swaps (
    netuid      INTEGER NOT NULL,
    block       BIGINT  NOT NULL,
    old_coldkey TEXT    NOT NULL,
    new_coldkey TEXT    NOT NULL,
    PRIMARY KEY (netuid, block, old_coldkey)
);

-- HotkeySwapped: the miner continues under a new hotkey.
CREATE TABLE hotkey_swaps (
    netuid     INTEGER NOT NULL,
    block      BIGINT  NOT NULL,
    coldkey    TEXT    NOT NULL,
    old_hotkey TEXT    NOT NULL,
    new_hotkey TEXT    NOT NULL,
    PRIMARY KEY (netuid, block, old_hotkey)
);

-- ---------------------------------------------------------------------------------------------
-- Stake, emissions and the vesting tranche book
-- ---------------------------------------------------------------------------------------------

-- Alpha a coldkey holds on a hotkey in the subnet, stored only when it changes. A coldkey's held
-- stake at block B is the sum over hotkeys of each pair's latest row at or before B.
CREATE TABLE stake_changes (
    netuid    INTEGER NOT NULL,
    coldkey   TEXT    NOT NULL,
    hotkey    TEXT    NOT NULL,
    block     BIGINT  NOT NULL,
    alpha_rao BIGINT  NOT NULL CHECK (alpha_rao >= 0),
    PRIMARY KEY (netuid, coldkey, hotkey, block)
);
CREATE INDEX stake_changes_block ON stake_changes (netuid, block);

-- Alpha emitted to each uid in the block where an epoch ran (one row per miner per epoch).
CREATE TABLE emissions (
    netuid           INTEGER NOT NULL,
    epoch_block      BIGINT  NOT NULL,
    uid              INTEGER NOT NULL,
    miner_id         BIGINT  NOT NULL REFERENCES miners (id),
    hotkey           TEXT    NOT NULL,
    -- Owner of the hotkey at the epoch block: whose book the emission is credited to.
    coldkey          TEXT    NOT NULL,
    amount_rao       BIGINT  NOT NULL CHECK (amount_rao >= 0),
    validator_permit BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (netuid, epoch_block, uid)
);
CREATE INDEX emissions_miner ON emissions (miner_id, epoch_block);
CREATE INDEX emissions_coldkey ON emissions (netuid, coldkey, epoch_block);

-- A book is (netuid, coldkey) for stake_scope = coldkey (hotkey = ''), or (netuid, coldkey,
-- hotkey) for stake_scope = hotkey. Inflows create tranches; outflows consume the newest first.
CREATE TABLE vesting_tranches (
    id            BIGSERIAL PRIMARY KEY,
    netuid        INTEGER NOT NULL,
    scope         TEXT    NOT NULL CHECK (scope IN ('coldkey', 'hotkey')),
    coldkey       TEXT    NOT NULL,
    hotkey        TEXT    NOT NULL DEFAULT '',
    kind          TEXT    NOT NULL CHECK (kind IN ('emission', 'manual')),
    block         BIGINT  NOT NULL,
    initial_rao   BIGINT  NOT NULL CHECK (initial_rao > 0),
    remaining_rao BIGINT  NOT NULL,
    -- Emission tranches: the miner that earned it.
    miner_id      BIGINT REFERENCES miners (id),
    CHECK (remaining_rao BETWEEN 0 AND initial_rao),
    CHECK (kind = 'manual' OR miner_id IS NOT NULL),
    CHECK ((scope = 'coldkey') = (hotkey = ''))
);
CREATE INDEX vesting_tranches_book ON vesting_tranches (netuid, scope, coldkey, hotkey, block DESC, id DESC);
CREATE INDEX vesting_tranches_open ON vesting_tranches (netuid, scope, coldkey, hotkey, block DESC, id DESC)
    WHERE remaining_rao > 0;

-- Every consumption of a tranche by an outflow (FILO), for audit and explanation.
CREATE TABLE tranche_outflows (
    tranche_id BIGINT NOT NULL REFERENCES vesting_tranches (id) ON DELETE CASCADE,
    block      BIGINT NOT NULL,
    amount_rao BIGINT NOT NULL CHECK (amount_rao > 0),
    PRIMARY KEY (tranche_id, block)
);

-- Vesting metrics and multiplier of every miner at every epoch, with what produced them.
CREATE TABLE vesting_multipliers (
    netuid           INTEGER          NOT NULL,
    epoch_block      BIGINT           NOT NULL,
    miner_id         BIGINT           NOT NULL REFERENCES miners (id),
    uid              INTEGER          NOT NULL,
    hotkey           TEXT             NOT NULL,
    coldkey          TEXT             NOT NULL,
    earned_rao       BIGINT           NOT NULL DEFAULT 0,
    remaining_rao    BIGINT           NOT NULL DEFAULT 0,
    -- NULL: no emission in the window ("no history").
    holding_fraction DOUBLE PRECISION,
    holding_days     DOUBLE PRECISION NOT NULL DEFAULT 0,
    amount_tier      DOUBLE PRECISION NOT NULL,
    duration_tier    DOUBLE PRECISION NOT NULL,
    multiplier       DOUBLE PRECISION NOT NULL CHECK (multiplier >= 1),
    mode             TEXT             NOT NULL CHECK (mode IN ('on', 'shadow', 'off')),
    reason           TEXT             NOT NULL,
    PRIMARY KEY (netuid, epoch_block, miner_id)
);
CREATE INDEX vesting_multipliers_miner ON vesting_multipliers (miner_id, epoch_block);

-- ---------------------------------------------------------------------------------------------
-- Uptime
-- ---------------------------------------------------------------------------------------------

-- One probe cycle, or one accepted API batch. Periods without rounds (tenure was down) do not
-- count against anyone.
CREATE TABLE uptime_rounds (
    id          BIGSERIAL   PRIMARY KEY,
    netuid      INTEGER     NOT NULL,
    source      TEXT        NOT NULL CHECK (source IN ('probe', 'api')),
    block       BIGINT      NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL,
    miners      INTEGER     NOT NULL DEFAULT 0,
    up          INTEGER     NOT NULL DEFAULT 0,
    duration_ms INTEGER
);
CREATE INDEX uptime_rounds_block ON uptime_rounds (netuid, block);

-- Raw samples, one per registered miner per round (a miner missing from a round is down, with
-- reported = false). Kept uptime.raw_retention_days.
CREATE TABLE uptime_samples (
    round_id      BIGINT  NOT NULL REFERENCES uptime_rounds (id) ON DELETE CASCADE,
    miner_id      BIGINT  NOT NULL REFERENCES miners (id),
    up            BOOLEAN NOT NULL,
    reported      BOOLEAN NOT NULL DEFAULT TRUE,
    latency_ms    INTEGER,
    compute_score DOUBLE PRECISION CHECK (compute_score IS NULL OR compute_score >= 0 AND compute_score < 'Infinity'),
    error         TEXT,
    PRIMARY KEY (round_id, miner_id)
);
CREATE INDEX uptime_samples_miner ON uptime_samples (miner_id, round_id);

-- Rollups: bounded rows per miner per day whatever the probe rate. A chain hour/day with no row
-- is unknown: it neither breaks nor extends a run.
CREATE TABLE uptime_hourly (
    netuid     INTEGER     NOT NULL,
    miner_id   BIGINT      NOT NULL REFERENCES miners (id),
    hour       BIGINT      NOT NULL,
    -- UTC time of the hour's first round: wall-clock windows (peak, weekend, holidays) use it.
    started_at TIMESTAMPTZ NOT NULL,
    rounds     INTEGER     NOT NULL CHECK (rounds > 0),
    up         INTEGER     NOT NULL CHECK (up BETWEEN 0 AND rounds),
    PRIMARY KEY (miner_id, hour)
);
CREATE INDEX uptime_hourly_netuid ON uptime_hourly (netuid, hour);

CREATE TABLE uptime_daily (
    netuid     INTEGER     NOT NULL,
    miner_id   BIGINT      NOT NULL REFERENCES miners (id),
    day        BIGINT      NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    rounds     INTEGER     NOT NULL CHECK (rounds > 0),
    up         INTEGER     NOT NULL CHECK (up BETWEEN 0 AND rounds),
    PRIMARY KEY (miner_id, day)
);
CREATE INDEX uptime_daily_netuid ON uptime_daily (netuid, day);

-- One-time milestones, never awarded twice.
CREATE TABLE achievements (
    netuid           INTEGER          NOT NULL,
    miner_id         BIGINT           NOT NULL REFERENCES miners (id),
    milestone        TEXT             NOT NULL,
    awarded_block    BIGINT           NOT NULL,
    bonus            DOUBLE PRECISION NOT NULL,
    -- Submissions the bonus still applies to.
    epochs_remaining INTEGER          NOT NULL CHECK (epochs_remaining >= 0),
    detail           JSONB            NOT NULL DEFAULT '{}',
    PRIMARY KEY (miner_id, milestone)
);
CREATE INDEX achievements_netuid ON achievements (netuid, awarded_block);

-- Operator grants ("community contributor").
CREATE TABLE grants (
    id         BIGSERIAL        PRIMARY KEY,
    netuid     INTEGER          NOT NULL,
    hotkey     TEXT             NOT NULL,
    bonus      DOUBLE PRECISION NOT NULL CHECK (bonus >= 0),
    reason     TEXT             NOT NULL CHECK (length(reason) > 0),
    granted_by TEXT             NOT NULL,
    granted_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ      NOT NULL,
    revoked_at TIMESTAMPTZ,
    revoked_by TEXT,
    CHECK (expires_at > granted_at)
);
CREATE INDEX grants_active ON grants (netuid, hotkey) WHERE revoked_at IS NULL;

-- Uptime metrics, every bonus and the multiplier of every miner at every epoch.
CREATE TABLE uptime_multipliers (
    netuid            INTEGER          NOT NULL,
    epoch_block       BIGINT           NOT NULL,
    miner_id          BIGINT           NOT NULL REFERENCES miners (id),
    uid               INTEGER          NOT NULL,
    hotkey            TEXT             NOT NULL,
    current_uptime    DOUBLE PRECISION,
    historical_uptime DOUBLE PRECISION,
    -- {"reliability": {"bonus": 0.2, "metric": 0.97, "why": "..."}, ...}
    bonuses           JSONB            NOT NULL,
    multiplier        DOUBLE PRECISION NOT NULL CHECK (multiplier >= 1),
    mode              TEXT             NOT NULL CHECK (mode IN ('on', 'shadow', 'off')),
    PRIMARY KEY (netuid, epoch_block, miner_id)
);
CREATE INDEX uptime_multipliers_miner ON uptime_multipliers (miner_id, epoch_block);

-- ---------------------------------------------------------------------------------------------
-- Weights
-- ---------------------------------------------------------------------------------------------

-- The validator's base scores (scores.source = api or table): latest score per hotkey, with
-- the block it is as of; older than scores.max_age_blocks ⇒ stale, never used.
CREATE TABLE base_scores (
    netuid     INTEGER          NOT NULL,
    hotkey     TEXT             NOT NULL,
    -- NaN sorts above Infinity in PostgreSQL, so this also refuses NaN.
    score      DOUBLE PRECISION NOT NULL CHECK (score >= 0 AND score < 'Infinity'),
    block      BIGINT           NOT NULL,
    source     TEXT             NOT NULL DEFAULT 'table' CHECK (source IN ('api', 'table')),
    updated_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (netuid, hotkey)
);

-- Alpha-selling penalties in force (weights.penalty).
CREATE TABLE stake_penalties (
    netuid        INTEGER          NOT NULL,
    coldkey       TEXT             NOT NULL,
    from_block    BIGINT           NOT NULL,
    until_block   BIGINT           NOT NULL CHECK (until_block > from_block),
    drop_fraction DOUBLE PRECISION NOT NULL,
    factor        DOUBLE PRECISION NOT NULL CHECK (factor > 0 AND factor <= 1),
    PRIMARY KEY (netuid, coldkey, from_block)
);

-- One row per epoch: planned → submitted → in_block → finalized | failed. The unique key is
-- what makes a second submission for one epoch impossible.
CREATE TABLE weight_submissions (
    id              BIGSERIAL   PRIMARY KEY,
    netuid          INTEGER     NOT NULL,
    mechid          INTEGER     NOT NULL DEFAULT 0 CHECK (mechid BETWEEN 0 AND 255),
    epoch_index     BIGINT      NOT NULL,
    -- The epoch block whose data the weights were computed from.
    epoch_block     BIGINT      NOT NULL,
    planned_block   BIGINT      NOT NULL,
    status          TEXT        NOT NULL
        CHECK (status IN ('planned', 'submitted', 'in_block', 'finalized', 'failed')),
    method          TEXT        NOT NULL
        CHECK (method IN ('set_weights', 'set_mechanism_weights', 'commit_timelocked_weights',
                          'commit_timelocked_mechanism_weights')),
    dry_run         BOOLEAN     NOT NULL DEFAULT FALSE,
    version_key     BIGINT      NOT NULL,
    -- The exact u16 vectors, uids ascending.
    uids            INTEGER[]   NOT NULL,
    weights         INTEGER[]   NOT NULL,
    -- Commit-reveal v4.
    reveal_round    BIGINT,
    commit_bytes    BYTEA,
    nonce           BIGINT,
    extrinsic_hash  BYTEA,
    in_block_hash   BYTEA,
    in_block_number BIGINT,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    error           TEXT,
    retryable       BOOLEAN,
    -- Fencing token of the leader lease that wrote the row (HA).
    leader_token    BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (netuid, mechid, epoch_index),
    CHECK (cardinality(uids) = cardinality(weights)),
    CHECK (status <> 'failed' OR error IS NOT NULL)
);
CREATE INDEX weight_submissions_status ON weight_submissions (netuid, status);

-- Every state transition of a submission, for audit.
CREATE TABLE weight_submission_log (
    id            BIGSERIAL   PRIMARY KEY,
    submission_id BIGINT      NOT NULL REFERENCES weight_submissions (id) ON DELETE CASCADE,
    at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    status        TEXT        NOT NULL,
    detail        TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX weight_submission_log_submission ON weight_submission_log (submission_id, id);

-- Per miner and submission: everything that explains the weight.
CREATE TABLE weight_entries (
    submission_id      BIGINT           NOT NULL REFERENCES weight_submissions (id) ON DELETE CASCADE,
    uid                INTEGER          NOT NULL,
    miner_id           BIGINT REFERENCES miners (id),
    hotkey             TEXT             NOT NULL,
    exempt             BOOLEAN          NOT NULL DEFAULT FALSE,
    base_score         DOUBLE PRECISION NOT NULL,
    uptime_multiplier  DOUBLE PRECISION NOT NULL,
    vesting_multiplier DOUBLE PRECISION NOT NULL,
    penalty            DOUBLE PRECISION NOT NULL,
    total_multiplier   DOUBLE PRECISION NOT NULL,
    clamped            BOOLEAN          NOT NULL DEFAULT FALSE,
    raw_weight         DOUBLE PRECISION NOT NULL,
    normalized_weight  DOUBLE PRECISION NOT NULL,
    weight_u16         INTEGER          NOT NULL CHECK (weight_u16 BETWEEN 0 AND 65535),
    explain            JSONB            NOT NULL DEFAULT '{}',
    PRIMARY KEY (submission_id, uid)
);
CREATE INDEX weight_entries_miner ON weight_entries (miner_id, submission_id);

-- ---------------------------------------------------------------------------------------------
-- Run-time settings
-- ---------------------------------------------------------------------------------------------

-- Settings changed while the daemon runs (vesting.mode, uptime.mode, ...), applied from the
-- next epoch. The configuration file only gives their initial values.
CREATE TABLE settings (
    netuid     INTEGER     NOT NULL,
    key        TEXT        NOT NULL,
    value      JSONB       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by TEXT        NOT NULL,
    PRIMARY KEY (netuid, key)
);

CREATE TABLE settings_audit (
    id        BIGSERIAL   PRIMARY KEY,
    netuid    INTEGER     NOT NULL,
    key       TEXT        NOT NULL,
    old_value JSONB,
    new_value JSONB       NOT NULL,
    actor     TEXT        NOT NULL,
    reason    TEXT,
    at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX settings_audit_key ON settings_audit (netuid, key, at);
