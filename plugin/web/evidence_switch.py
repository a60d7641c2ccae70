"""The evidence release a process serves, and switching to another without a restart.

Every door takes the plugin once per request (`plugin.web.deps.plugin_of`) from one reference, `served`. A reload
loads the release IVIG_CDS_EVIDENCE_DIR names at that moment (a symlink a curator has just swapped is followed
then), in a worker thread while the doors go on answering, proves it as a start does (every status rendered in
every channel), and only then replaces that reference: a request that started on the previous release finishes on
it, the next one gets the new one. When anything fails nothing is switched: the previous release keeps serving,
and the failure (code, file, field) goes to the log and to /readyz. A release with the version already served is
not switched to again, and the reload says so.

With a shared database (`ReleaseLedger`) each switch is recorded, and `poll` looks every `poll_seconds` for a
newer label that another replica switched to: when this replica's evidence directory holds that release it
switches too, so replicas converge within the interval and a load; when it holds another, the replica waits and
says so in /readyz, rather than switch to something else.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio
import anyio.to_thread

from plugin.core.answer.plugin import Plugin
from plugin.core.evidence.release import MANIFEST, content_hash, newer
from plugin.core.evidence.store import load_release
from plugin.errors import EvidenceError, PluginError

log = logging.getLogger(__name__)

Trigger = Literal["signal", "admin", "poll"]
Outcome = Literal["switched", "unchanged", "failed", "waiting"]
# A failure's details worth showing: where it is. Never `value`, which can be a whole record of the store.
WHERE = ("file", "field", "table", "channel", "status", "line", "names", "tables")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC, to the second: 2026-12-01T09:30:00Z."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Served:
    """A loaded release and when this process started serving it."""

    plugin: Plugin
    switched_at: datetime

    @property
    def version(self) -> str:
        return self.plugin.store.version

    @property
    def label(self) -> str:
        return self.plugin.store.label


class Release(Protocol):
    """A release as the shared database names it."""

    @property
    def label(self) -> str: ...

    @property
    def version(self) -> str: ...


class ReleaseLedger(Protocol):
    """The shared database's record of the releases replicas switched to (`plugin.storage.store.Storage`)."""

    async def record_release(self, label: str, version: str, at: datetime) -> bool: ...

    async def newest_release(self) -> Release | None: ...


def failure_of(exc: PluginError) -> dict[str, Any]:
    """What an operator needs to mend a refused release: its code and message, and where (file, field...)."""
    where = {key: shown(exc.details[key]) for key in WHERE if key in exc.details}
    return {"code": exc.code, "message": exc.message, **where}


def shown(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [shown(item) for item in value]
    return str(value)


@dataclass(frozen=True)
class Reload:
    """What one reload did: switched, found the release already served, failed, or waits for a release."""

    outcome: Outcome
    trigger: Trigger
    at: datetime
    label: str | None = None  # the release loaded; when waiting, the release waited for
    version: str | None = None
    previous: tuple[str, str] | None = None  # switched: the label and version served before
    error: dict[str, Any] | None = None  # failed: code, message, file, field...
    reason: str | None = None  # waiting: why this replica does not switch

    def report(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.outcome, "trigger": self.trigger, "at": iso(self.at)}
        if self.label is not None:
            body |= {"evidence_label": self.label, "evidence_version": self.version}
        if self.previous is not None:
            body["previous"] = {"evidence_label": self.previous[0], "evidence_version": self.previous[1]}
        if self.error is not None:
            body["error"] = self.error
        if self.reason is not None:
            body["reason"] = self.reason
        return body


def peek(evidence_dir: Path) -> tuple[str | None, str]:
    """The label of the release `evidence_dir` names now (None when its manifest cannot be read), and a fingerprint
    of its manifest and files: enough to tell, without loading it, whether it is the release another replica
    switched to, and whether anything changed since it was last tried."""
    here = evidence_dir.resolve()
    try:
        label: str | None = load_release(here / MANIFEST).label
    except EvidenceError:
        label = None
    try:
        manifest = hashlib.sha256((here / MANIFEST).read_bytes()).hexdigest()[:16]
    except OSError:
        manifest = "none"
    return label, f"{manifest}/{content_hash(here, label or '')}"


class EvidenceSwitch:
    """The served release (one reference), reloads, and the poll of the shared database.

    `load` loads and proves the release the evidence directory names when it is called, and raises a `PluginError`
    naming what is wrong; it is called once here (the start: any error stops it) and once per reload, in a worker
    thread. `on_reload` hears of every reload (the metrics).
    """

    def __init__(
        self,
        load: Callable[[], Plugin],
        evidence_dir: Path,
        *,
        ledger: ReleaseLedger | None = None,
        poll_seconds: float = 0.0,
        on_reload: Callable[[Reload, Served], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._load = load
        self.evidence_dir = evidence_dir
        self.ledger = ledger
        self.poll_seconds = poll_seconds if ledger is not None else 0.0
        self.on_reload = on_reload
        self.clock = clock
        started = time.monotonic()
        plugin = load()
        self.load_seconds = time.monotonic() - started
        self.look_seconds = 0.0  # the last look at the database that switched: the query, the peek and the load
        self.served = Served(plugin, clock())
        self.last: Reload | None = None
        # One reload at a time, on the loop that serves (a test may start the same app twice, on two loops).
        self._lock = asyncio.Lock()
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._asked: asyncio.Event | None = None  # wakes `answer_signals`
        self._pending = False  # a signal asked for a reload that has not begun
        self._tried: tuple[str, str, str] | None = None  # the newer release last tried by the poll, and the files
        self._ledger_down = False

    @property
    def plugin(self) -> Plugin:
        """The release served now. A request reads it once (`plugin.web.deps.plugin_of`) and keeps it."""
        return self.served.plugin

    async def reload(self, trigger: Trigger, wanted: Release | None = None) -> Reload:
        """Load the release the evidence directory names now and switch to it once it is proven (one at a time).

        With `wanted` (the poll), switch only if the directory holds exactly that release; otherwise wait."""
        async with self.one_at_a_time():
            result = await self._reload(trigger, wanted)
            self._finish(result)
            if result.outcome == "switched":
                await self._record(self.served)
            return result

    def one_at_a_time(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def ask(self) -> None:
        """Ask for a reload from outside any task (a signal handler, on the loop's thread); `answer_signals` runs it.
        Signals that come while one is loading ask for one more reload, not one each."""
        self._pending = True
        if self._asked is not None:
            self._asked.set()

    async def answer_signals(self) -> None:
        """Reload each time `ask` is called (and once at once if it was called before), until cancelled."""
        self._asked = asked = asyncio.Event()
        try:
            while True:
                if not self._pending:
                    await asked.wait()
                asked.clear()
                self._pending = False
                await self.reload("signal")
        finally:
            self._asked = None

    async def _reload(self, trigger: Trigger, wanted: Release | None) -> Reload:
        before = self.served
        started = time.monotonic()
        try:
            plugin = await anyio.to_thread.run_sync(self._load)
        except PluginError as exc:
            return Reload("failed", trigger, self.clock(), error=failure_of(exc))
        except Exception as exc:  # a defect, or a file system that failed: fail closed all the same
            log.exception("loading the evidence release failed")
            message = f"the release could not be loaded ({type(exc).__name__})"
            return Reload("failed", trigger, self.clock(), error={"code": "evidence.reload_failed", "message": message})
        self.load_seconds = time.monotonic() - started
        label, version = plugin.store.label, plugin.store.version
        if wanted is not None and (label, version) != (wanted.label, wanted.version):
            reason = f"the evidence directory holds release {label} ({version}), not {wanted.label} ({wanted.version})"
            return Reload("waiting", trigger, self.clock(), wanted.label, wanted.version, reason=reason)
        if version == before.version:
            return Reload("unchanged", trigger, self.clock(), label, version)
        self.served = Served(plugin, self.clock())  # the switch: one reference, which every door reads
        return Reload("switched", trigger, self.served.switched_at, label, version, (before.label, before.version))

    def _finish(self, result: Reload) -> None:
        self.last = result
        served = self.served
        if result.outcome == "switched":
            log.info(
                "evidence release %s (%s) now served, after %s (%s); asked by %s",
                served.label,
                served.version,
                *(result.previous or ("", "")),
                result.trigger,
            )
        elif result.outcome == "unchanged":
            log.info(
                "evidence release %s (%s) is already served; asked by %s", served.label, served.version, result.trigger
            )
        elif result.outcome == "failed":
            log.error(
                "evidence release refused, %s (%s) keeps serving; asked by %s: %s",
                served.label,
                served.version,
                result.trigger,
                result.error,
            )
        else:
            log.warning("waiting for evidence release %s (%s): %s", result.label, result.version, result.reason)
        if self.on_reload is not None:
            self.on_reload(result, served)

    async def _record(self, served: Served) -> None:
        """Tell the other replicas (the shared database); a database that cannot answer delays only them."""
        if self.ledger is None:
            return
        try:
            await self.ledger.record_release(served.label, served.version, served.switched_at)
        except PluginError as exc:
            log.warning(
                "the switch to release %s could not be recorded in the shared database: %s", served.label, exc.code
            )

    async def poll(self) -> None:
        """Look at the shared database every `poll_seconds` until cancelled (nothing when it is 0)."""
        if self.poll_seconds <= 0:
            return
        while True:
            try:
                await self.poll_once()
            except Exception:  # a defect must not end the poll: the next look may succeed
                log.exception("looking for a newer evidence release failed")
            await anyio.sleep(self.poll_seconds)

    async def poll_once(self) -> None:
        """Switch to a newer release another replica switched to, if the evidence directory holds it; record this
        replica's release when no replica has switched to a newer one."""
        if self.ledger is None:
            return
        started = time.monotonic()
        try:
            newest = await self.ledger.newest_release()
        except PluginError as exc:
            if not self._ledger_down:
                log.warning("the shared database cannot say which evidence release is newest: %s", exc.code)
            self._ledger_down = True
            return
        self._ledger_down = False
        served = self.served
        if newest is None or newer(served.label, newest.label):
            await self._record(served)
            return
        if not newer(newest.label, served.label):
            return
        label, fingerprint = await anyio.to_thread.run_sync(peek, self.evidence_dir)
        attempt = (newest.label, newest.version, fingerprint)
        if attempt == self._tried:
            return  # nothing has changed since it was tried: still waiting, or still refused
        self._tried = attempt
        if label != newest.label:
            held = f"release {label}" if label is not None else "no release it can name (release.toml unreadable)"
            reason = f"the evidence directory holds {held}, not {newest.label}"
            async with self.one_at_a_time():
                self._finish(Reload("waiting", "poll", self.clock(), newest.label, newest.version, reason=reason))
            return
        if (await self.reload("poll", wanted=newest)).outcome == "switched":
            self.look_seconds = time.monotonic() - started

    def readiness(self) -> dict[str, Any]:
        """What /readyz says of the evidence: the release served since when, how soon replicas converge, and what
        the last reload did (its error when it failed)."""
        served = self.served
        # A newer release is seen at the next look at most `poll_seconds` later, and switched to once that look is over.
        look = max(self.load_seconds, self.look_seconds)
        converges = math.ceil((self.poll_seconds + look) * 10) / 10 if self.poll_seconds > 0 else None
        return {
            "evidence_version": served.version,
            "evidence_label": served.label,
            "switched_at": iso(served.switched_at),
            "evidence_poll_seconds": self.poll_seconds,
            "evidence_converges_within_seconds": converges,
            "evidence_reload": self.last.report() if self.last is not None else None,
        }
