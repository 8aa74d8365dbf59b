"""The clients. Every call is one request described by a `_Call` (method, path, query, body and
the model of the answer), sent by `Client` (blocking) or `AsyncClient` (asyncio) over httpx.
Any answer other than 2xx raises `TenureError` with the status and tenure's reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, TypeVar, Union

import httpx
from pydantic import BaseModel, TypeAdapter

from .models import (
    Badge,
    Granted,
    GrantRow,
    HistoryEntry,
    Leaderboard,
    MinerExplanation,
    Miners,
    Mode,
    ModeChange,
    NetworkHealth,
    Observation,
    Revoked,
    ScoresAccepted,
    UptimeAccepted,
)

T = TypeVar("T")


class TenureError(Exception):
    """tenure refused a request (or could not answer it): `status` and tenure's `reason`."""

    def __init__(self, status: int, reason: str, method: str, path: str):
        super().__init__(f"{method} {path}: {status} {reason}")
        self.status = status
        self.reason = reason


@dataclass
class _Call:
    method: str
    path: str
    answer: Any
    params: Dict[str, Any] = field(default_factory=dict)
    body: Optional[Any] = None

    def request(self) -> Dict[str, Any]:
        params = {k: v for k, v in self.params.items() if v is not None}
        out: Dict[str, Any] = {"params": params}
        if self.body is not None:
            out["json"] = self.body
        return out

    def parse(self, r: httpx.Response) -> Any:
        if not r.is_success:
            try:
                reason = r.json()["error"]
            except Exception:
                reason = r.text
            raise TenureError(r.status_code, reason, self.method, self.path)
        return TypeAdapter(self.answer).validate_python(r.json())


def _mode_body(mode: Mode, reason: Optional[str], actor: Optional[str]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"mode": mode}
    if reason is not None:
        body["reason"] = reason
    if actor is not None:
        body["actor"] = actor
    return body


class _Calls:
    """What each method asks for (shared by both clients)."""

    @staticmethod
    def post_scores(scores: Mapping[str, float]) -> _Call:
        return _Call("POST", "/v1/scores", ScoresAccepted, body={"scores": dict(scores)})

    @staticmethod
    def post_uptime(observations: Sequence[Union[Observation, Mapping[str, Any]]]) -> _Call:
        items = [
            o.model_dump(mode="json", exclude_none=True)
            if isinstance(o, BaseModel)
            else dict(o)
            for o in observations
        ]
        return _Call("POST", "/v1/uptime", UptimeAccepted, body={"observations": items})

    @staticmethod
    def miners() -> _Call:
        return _Call("GET", "/v1/miners", Miners)

    @staticmethod
    def explain(miner: Union[int, str], epoch: Optional[int] = None) -> _Call:
        return _Call("GET", f"/v1/weights/miners/{miner}", MinerExplanation, {"epoch": epoch})

    @staticmethod
    def submissions(limit: int = 10) -> _Call:
        return _Call("GET", "/v1/weights/submissions", List[HistoryEntry], {"limit": limit})

    @staticmethod
    def leaderboard(epoch_block: Optional[int] = None) -> _Call:
        return _Call("GET", "/v1/uptime/leaderboard", Leaderboard, {"epoch_block": epoch_block})

    @staticmethod
    def achievements() -> _Call:
        return _Call("GET", "/v1/uptime/achievements", List[Badge])

    @staticmethod
    def network() -> _Call:
        return _Call("GET", "/v1/network", NetworkHealth)

    @staticmethod
    def set_mode(family: str, mode: Mode, reason: Optional[str], actor: Optional[str]) -> _Call:
        return _Call("PUT", f"/v1/{family}/mode", ModeChange, body=_mode_body(mode, reason, actor))

    @staticmethod
    def grants(all: bool = False) -> _Call:
        return _Call("GET", "/v1/uptime/grants", List[GrantRow], {"all": "true" if all else None})

    @staticmethod
    def grant(hotkey: str, reason: str, days: int, bonus: Optional[float]) -> _Call:
        body: Dict[str, Any] = {"hotkey": hotkey, "reason": reason, "days": days}
        if bonus is not None:
            body["bonus"] = bonus
        return _Call("POST", "/v1/uptime/grants", Granted, body=body)

    @staticmethod
    def revoke(grant_id: int) -> _Call:
        return _Call("DELETE", f"/v1/uptime/grants/{grant_id}", Revoked)


def _headers(token: Optional[str]) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class Client:
    """Blocking client. `token` is tenure's `http.api_token` (needed for writes only)."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 10.0):
        self._http = httpx.Client(base_url=base_url, headers=_headers(token), timeout=timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Any:
        return call.parse(self._http.request(call.method, call.path, **call.request()))

    def post_scores(self, scores: Mapping[str, float]) -> ScoresAccepted:
        """Your validator's base scores, `hotkey → score` (finite, ≥ 0)."""
        return self._send(_Calls.post_scores(scores))

    def post_uptime(self, observations: Sequence[Union[Observation, Mapping[str, Any]]]) -> UptimeAccepted:
        return self._send(_Calls.post_uptime(observations))

    def miners(self) -> Miners:
        return self._send(_Calls.miners())

    def explain(self, miner: Union[int, str], epoch: Optional[int] = None) -> MinerExplanation:
        return self._send(_Calls.explain(miner, epoch))

    def submissions(self, limit: int = 10) -> List[HistoryEntry]:
        return self._send(_Calls.submissions(limit))

    def leaderboard(self, epoch_block: Optional[int] = None) -> Leaderboard:
        return self._send(_Calls.leaderboard(epoch_block))

    def achievements(self) -> List[Badge]:
        return self._send(_Calls.achievements())

    def network(self) -> NetworkHealth:
        return self._send(_Calls.network())

    def set_vesting_mode(self, mode: Mode, reason: Optional[str] = None, actor: Optional[str] = None) -> ModeChange:
        return self._send(_Calls.set_mode("vesting", mode, reason, actor))

    def set_uptime_mode(self, mode: Mode, reason: Optional[str] = None, actor: Optional[str] = None) -> ModeChange:
        return self._send(_Calls.set_mode("uptime", mode, reason, actor))

    def grants(self, all: bool = False) -> List[GrantRow]:
        return self._send(_Calls.grants(all))

    def grant(self, hotkey: str, reason: str, days: int, bonus: Optional[float] = None) -> Granted:
        return self._send(_Calls.grant(hotkey, reason, days, bonus))

    def revoke(self, grant_id: int) -> Revoked:
        return self._send(_Calls.revoke(grant_id))


class AsyncClient:
    """The same calls for asyncio."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 10.0):
        self._http = httpx.AsyncClient(base_url=base_url, headers=_headers(token), timeout=timeout)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Any:
        return call.parse(await self._http.request(call.method, call.path, **call.request()))

    async def post_scores(self, scores: Mapping[str, float]) -> ScoresAccepted:
        return await self._send(_Calls.post_scores(scores))

    async def post_uptime(self, observations: Sequence[Union[Observation, Mapping[str, Any]]]) -> UptimeAccepted:
        return await self._send(_Calls.post_uptime(observations))

    async def miners(self) -> Miners:
        return await self._send(_Calls.miners())

    async def explain(self, miner: Union[int, str], epoch: Optional[int] = None) -> MinerExplanation:
        return await self._send(_Calls.explain(miner, epoch))

    async def submissions(self, limit: int = 10) -> List[HistoryEntry]:
        return await self._send(_Calls.submissions(limit))

    async def leaderboard(self, epoch_block: Optional[int] = None) -> Leaderboard:
        return await self._send(_Calls.leaderboard(epoch_block))

    async def achievements(self) -> List[Badge]:
        return await self._send(_Calls.achievements())

    async def network(self) -> NetworkHealth:
        return await self._send(_Calls.network())

    async def set_vesting_mode(self, mode: Mode, reason: Optional[str] = None, actor: Optional[str] = None) -> ModeChange:
        return await self._send(_Calls.set_mode("vesting", mode, reason, actor))

    async def set_uptime_mode(self, mode: Mode, reason: Optional[str] = None, actor: Optional[str] = None) -> ModeChange:
        return await self._send(_Calls.set_mode("uptime", mode, reason, actor))

    async def grants(self, all: bool = False) -> List[GrantRow]:
        return await self._send(_Calls.grants(all))

    async def grant(self, hotkey: str, reason: str, days: int, bonus: Optional[float] = None) -> Granted:
        return await self._send(_Calls.grant(hotkey, reason, days, bonus))

    async def revoke(self, grant_id: int) -> Revoked:
        return await self._send(_Calls.revoke(grant_id))
