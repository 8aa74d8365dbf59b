"""Response and request models, named after what they mean; `SCHEMAS` maps each to the schema of
tenure's OpenAPI description it mirrors (the tests check every field against it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict

Mode = Literal["on", "shadow", "off"]
SubmissionStatus = Literal[
    "planned",
    "submitted",
    "in_block",
    "finalized",
    "failed",
    "missed",
    "revealed",
    "reveal_missed",
]


class _Model(BaseModel):
    # A field tenure adds later is kept, not an error: the client stays usable across upgrades.
    model_config = ConfigDict(extra="allow", frozen=True)


class ErrorBody(_Model):
    error: str


class ScoresAccepted(_Model):
    """`POST /v1/scores`: scores stored, dated at the ingested block."""

    accepted: int
    block: int


class Observation(_Model):
    """One miner seen up or down (`POST /v1/uptime`), at a block or a time."""

    hotkey: str
    up: bool
    compute_score: Optional[float] = None
    block: Optional[int] = None
    timestamp: Optional[datetime] = None


class UptimeAccepted(_Model):
    """`POST /v1/uptime`: the batch recorded as one round."""

    round_id: int
    block: int
    miners: int
    up: int
    unreported: int


class ModeChange(_Model):
    old: Mode
    new: Mode
    changed: bool


class Miner(_Model):
    uid: int
    hotkey: str
    coldkey: Optional[str] = None
    registered_at_block: int
    current_uptime: Optional[float] = None
    historical_uptime: Optional[float] = None
    uptime_multiplier: Optional[float] = None
    holding_fraction: Optional[float] = None
    holding_days: Optional[float] = None
    vesting_multiplier: Optional[float] = None
    total_multiplier: Optional[float] = None
    weight_share: Optional[float] = None


class Miners(_Model):
    netuid: int
    uptime_epoch: Optional[int] = None
    vesting_epoch: Optional[int] = None
    weights_epoch: Optional[int] = None
    miners: List[Miner]


class Submission(_Model):
    epoch_index: int
    epoch_block: int
    planned_block: int
    status: SubmissionStatus
    method: str
    dry_run: bool
    version_key: int
    dests: List[int]
    weights: List[int]
    reveal_round: Optional[int] = None
    nonce: Optional[int] = None
    in_block: Optional[int] = None
    attempts: int
    error: Optional[str] = None
    retryable: Optional[bool] = None
    revealed_block: Optional[int] = None


class Transition(_Model):
    at: datetime
    status: str
    detail: str


class HistoryEntry(Submission):
    """A submission with every transition (`GET /v1/weights/submissions`)."""

    log: List[Transition]


class MinerExplanation(_Model):
    """`GET /v1/weights/miners/{miner}`: a miner's weight explained (`explain` is tenure's
    explanation: base, each multiplier with what earned it, the clamp, the u16)."""

    uid: int
    hotkey: str
    submission: Submission
    log: List[Transition]
    explain: Dict[str, Any]


class LeaderboardEntry(_Model):
    rank: int
    uid: int
    hotkey: str
    current_uptime: Optional[float] = None
    historical_uptime: Optional[float] = None
    consistency_days: float
    longevity_days: float
    multiplier: float
    mode: str
    detail: Dict[str, Any]


class Leaderboard(_Model):
    epoch_block: int
    miners: List[LeaderboardEntry]


class Badge(_Model):
    uid: int
    hotkey: str
    milestone: str
    awarded_block: int
    bonus: float
    epochs_remaining: int


class GrantRow(_Model):
    id: int
    hotkey: str
    bonus: float
    reason: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: Optional[datetime] = None
    revoked_by: Optional[str] = None


class Granted(_Model):
    id: int
    hotkey: str
    bonus: float
    expires_at: datetime


class Revoked(_Model):
    id: int
    revoked: bool


class Criterion(_Model):
    name: str
    target: Any
    baseline: Optional[Any] = None
    now: Optional[Any] = None
    state: Any
    why: Optional[str] = None


class NetworkHealth(_Model):
    """`GET /v1/network`: the latest figures and the success criteria."""

    miners: int
    uptime_epoch: Optional[int] = None
    mean_current_uptime: Optional[float] = None
    mean_historical_uptime: Optional[float] = None
    bonus_coverage: Optional[float] = None
    downtime_hours: Optional[float] = None
    downtime_trend: Optional[float] = None
    weights_epoch: Optional[int] = None
    gini: Optional[float] = None
    top10_share: Optional[float] = None
    moved: Optional[Any] = None
    retention: Any
    criteria: List[Criterion]


# Each model and the OpenAPI schema it mirrors.
SCHEMAS = {
    ErrorBody: "ErrorBody",
    ScoresAccepted: "ScoresAccepted",
    Observation: "Observation",
    UptimeAccepted: "Accepted",
    ModeChange: "Change",
    Miner: "Miner",
    Miners: "Miners",
    Submission: "Submission",
    Transition: "Transition",
    HistoryEntry: "HistoryEntry",
    MinerExplanation: "MinerExplanation",
    LeaderboardEntry: "Entry",
    Leaderboard: "Board",
    Badge: "Badge",
    GrantRow: "GrantRow",
    Granted: "Granted",
    Revoked: "Revoked",
    Criterion: "Criterion",
    NetworkHealth: "Health",
}
