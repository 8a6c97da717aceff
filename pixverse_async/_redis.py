"""One account, many processes: the slot limiter, webhook results and replay memory in Redis.

Every client created with the same ``redis_url`` and the same API key behaves as one client
(extra ``redis``: ``pip install 'pixverse-async[redis]'``)::

    client = AsyncPixVerse(redis_url="redis://:secret@cache:6379/0")   # or $PIXVERSE_REDIS_URL

What is shared, under keys namespaced by a hash of the API key (never the key) and an optional
prefix:

- **Generation slots** (:class:`RedisLimiter`): leases in a sorted set scored by their expiry
  on the Redis server's clock (``TIME``), taken and given back by Lua scripts (one atomic step
  each: no read-then-write races). A process renews its leases every third of
  ``lease`` seconds while its jobs run; a killed process's slots come free when its leases
  expire. PixVerse still counts that process's jobs until they end, so a 500044 meanwhile is a
  squeeze, not a new limit (an overlap costs one 500044 answer, never money).
- **Fair and prompt**: waiting submits queue in a sorted set by ticket (``INCR``), first come
  first served across processes; a slot is granted only to a waiter with room for everyone
  ahead of it. A release publishes a wake-up (pub/sub) that every waiting process hears at
  once; a slow re-check (``recheck`` seconds) covers a wake-up lost while a subscription
  reconnects. A waiter that stops renewing its place (a killed process) leaves the queue.
- **Auto mode**: one learned limit for the account, in a hash, with the same policy as the
  in-process :class:`~pixverse_async.SlotLimiter` (:func:`~pixverse_async._limiter.judge_500044`).
  On a 500044 one process at a time learns (a lock), pausing grants fleet-wide, asking every
  process to re-poll the jobs it holds (pub/sub, acknowledged through a list) and counting the
  jobs still running. The probe clock lives in Redis: one upward probe per ``probe_interval``
  for the whole fleet.
- **Webhook results**: a delivery verified by any worker is appended to a stream (``XADD``,
  capped); every client reads it (``XREAD BLOCK``) from its own last id and resolves the jobs it
  waits on. A reader that was away resumes from its last id; anything older than the stream
  keeps is caught by the fallback poll.
- **Replay and duplicate memory** (:class:`RedisNonceStore`): ``SET NX`` with an expiry.

When Redis goes away mid-run no new submit goes out (the limit is never exceeded on a local
guess): waits keep waiting, running jobs keep being polled and webhook deliveries keep being
handled locally, releases are queued, and everything reconnects with backoff. A Redis that
comes back empty (restarted without persistence) grants nothing until two renewal periods
after it started, while every live process re-registers the leases of its running jobs, so the
restart cannot double the fleet's slots (a server already up for longer grants at once);
``client.limiter.statistics().connected`` says so. At start an unreachable Redis raises
:class:`CoordinationError` naming the URL with its password redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from ._constants import (
    LIMIT_PROBE_INTERVAL,
    REDIS_BACKOFF_MAX,
    REDIS_BEHIND_RECHECKS,
    REDIS_CLOSE_WAIT,
    REDIS_EVENTS_MAXLEN,
    REDIS_GRANT_SAMPLES,
    REDIS_LEARN_TIMEOUT,
    REDIS_LEASE_SECONDS,
    REDIS_RECHECK_SECONDS,
    REDIS_RECOVERY_MARGIN,
    REDIS_REFRESH_TIMEOUT,
    SLOT_RELEASE_SECONDS,
    SQUEEZE_PAUSE,
    SUBMIT_STALL_SECONDS,
)
from ._exceptions import ConfigurationError, PixVerseError
from ._limiter import LimiterStatistics, Refresh, Slot, judge_500044

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

logger = logging.getLogger("pixverse_async")


class CoordinationError(PixVerseError):
    """The shared store (Redis) cannot be reached or used; the message names it, redacted."""


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe for reprs, logs and errors)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable Redis URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class SecretUrl(str):
    """A Redis URL: used as is, but its ``repr`` hides the password (tracebacks with locals)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_url(self))


def namespace(api_key: str, prefix: str = "") -> str:
    """The key prefix of one account: a hash of its API key, never the key itself."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return f"{prefix}pixverse:{digest}:"


# -- Lua: every change of the shared slot state is one atomic step ---------------------------

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: drop expired leases and the queue places nobody renews
_PURGE = """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, tok in ipairs(dead) do redis.call('HDEL', KEYS[2], tok) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for _, w in ipairs(gone) do redis.call('ZREM', KEYS[3], w) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now) end
"""

#: KEYS: slots, states, queue, alive, limit, ticket. ARGV: waiter, queue ttl ms.
#: Returns the waiter's ticket (a new place, or the one it has).
_ENQUEUE = (
    _NOW
    + """
local ticket = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not ticket then
  ticket = redis.call('INCR', KEYS[6])
  redis.call('ZADD', KEYS[3], ticket, ARGV[1])
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), ARGV[1])
return ticket
"""
)

#: KEYS: slots, states, queue, alive, limit, epoch. ARGV: waiter, token, lease ms, fixed limit
#: (0: auto), stall ms, probe interval ms, queue ttl ms, recovery ms.
#: Returns {code, ms since the last release}: code 0 (granted), 1 (granted as a probe),
#: -1 (wait), -2 (not queued: enqueue again).
#: A store without the epoch marker is new or came back empty (a restart without
#: persistence): the leases of jobs still running return with their holders' next renewal, so
#: nothing is granted until ``recovery ms`` (more than a renewal period) after the server
#: started. A server up for longer than that grants at once.
_ACQUIRE = (
    _NOW
    + _PURGE
    + """
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return {-2, -1} end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[7]), ARGV[1])
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('SET', KEYS[6], '1')
  -- leases are lost only when the server (re)starts, and every live process re-registers
  -- its leases within one renewal period of that: wait out what is left of the window
  local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
  local until_ms = now - (up or 0) * 1000 + tonumber(ARGV[8])
  if until_ms > now then
    redis.call('HSET', KEYS[5], 'recovering_until', until_ms)
    return {-1, -1}
  end
end
local state = redis.call('HMGET', KEYS[5], 'learned', 'estimate', 'last_probe',
                         'squeezed_until', 'paused_until', 'recovering_until')
if tonumber(state[4] or 0) > now or tonumber(state[5] or 0) > now
   or tonumber(state[6] or 0) > now then return {-1, -1} end
local held = redis.call('ZCARD', KEYS[1])
local fixed = tonumber(ARGV[4])
local allowed
local learned = state[1] == '1' and fixed == 0
if fixed > 0 then
  allowed = fixed
elseif not learned then
  local running, stalled = 0, 0
  local stall = tonumber(ARGV[5])
  for _, info in ipairs(redis.call('HVALS', KEYS[2])) do
    local kind, at = string.match(info, '^(%a):(%d+)')
    if kind == 'r' then running = running + 1
    elseif now - tonumber(at) >= stall then stalled = stalled + 1 end
  end
  allowed = running + 1 + stalled
else
  allowed = tonumber(state[2])
  if now - tonumber(state[3] or 0) >= tonumber(ARGV[6]) then allowed = allowed + 1 end
end
local rank = redis.call('ZRANK', KEYS[3], ARGV[1])
if held + rank >= allowed then return {-1, -1} end
local gap = now - tonumber(redis.call('HGET', KEYS[5], 'last_release') or now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], 's:' .. now)
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if learned and held + 1 > tonumber(state[2]) then
  redis.call('HSET', KEYS[5], 'last_probe', now)
  return {1, gap}
end
return {0, gap}
"""
)

#: KEYS: slots, states, limit, wake channel. ARGV: token, lease ms, publish (1/0). In auto
#: mode a submit answered may make room (slow start counts running jobs, not submits in the
#: air): waiters look again. A fixed limit counts leases only, so nothing is published.
_ACCEPTED = (
    _NOW
    + """
local info = redis.call('HGET', KEYS[2], ARGV[1])
local at = now
if info then at = tonumber(string.match(info, ':(%d+)')) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], 'r:' .. at)
local running = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  if string.sub(v, 1, 1) == 'r' then running = running + 1 end
end
local top = tonumber(redis.call('HGET', KEYS[3], 'max_running') or 0)
if running > top then redis.call('HSET', KEYS[3], 'max_running', running) end
if ARGV[3] == '1' then redis.call('PUBLISH', KEYS[4], '1') end
return running
"""
)

#: KEYS: slots, states, limit, wake channel. ARGV: token.
_RELEASE = (
    _NOW
    + """
local info = redis.call('HGET', KEYS[2], ARGV[1])
if not info then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if string.sub(info, 1, 1) == 'r' then
  redis.call('HDEL', KEYS[3], 'squeezed_until')
end
redis.call('HSET', KEYS[3], 'last_release', now)
redis.call('PUBLISH', KEYS[4], '1')
return 1
"""
)

#: KEYS: queue, alive, wake channel. ARGV: waiter. A waiter leaves the queue (cancelled).
_LEAVE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed > 0 then redis.call('PUBLISH', KEYS[3], '1') end
return removed
"""

#: KEYS: slots, states. ARGV: lease ms, then (token, state) pairs this process holds.
_RENEW = (
    _NOW
    + """
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
  local info = redis.call('HGET', KEYS[2], ARGV[i])
  local at = now
  if info then at = tonumber(string.match(info, ':(%d+)')) end
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1] .. ':' .. at)
end
return #ARGV
"""
)

#: KEYS: queue, alive. ARGV: queue ttl ms, then the waiters this process has.
_KEEP_PLACES = (
    _NOW
    + """
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[i])
  end
end
return 1
"""
)

#: KEYS: slots, states, queue, alive. Returns held, running, waiting, server time ms.
_COUNT = (
    _NOW
    + _PURGE
    + """
local running = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  if string.sub(v, 1, 1) == 'r' then running = running + 1 end
end
return {redis.call('ZCARD', KEYS[1]), running, redis.call('ZCARD', KEYS[3]), now}
"""
)

_REDIS_MISSING = (
    "redis_url needs the redis extra: pip install 'pixverse-async[redis]' (redis-py {})"
)


def _connection_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions

    return (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)


class RedisCoordinator:
    """The shared store of one client: connection, key names, and the background readers.

    Create it through ``AsyncPixVerse(redis_url=...)``. It connects on :meth:`start` (the
    client's ``async with``) or on first use.

    Args:
        url: ``redis://`` or ``rediss://`` URL (password allowed; it is never shown).
        api_key: the account key; only its hash names the keys.
        prefix: prepended to every key (several deployments on one Redis).
        lease: seconds a slot lease lasts without renewal (renewed every third of it).
        recheck: seconds between re-checks of a waiting submit (a lost wake-up only delays).
        events: read the webhook stream (webhook mode).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        prefix: str = "",
        lease: float = REDIS_LEASE_SECONDS,
        recheck: float = REDIS_RECHECK_SECONDS,
        events: bool = False,
    ) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                f"redis_url must be a redis://, rediss:// or unix:// URL, not {redact_url(url)!r}"
            )
        if lease <= 0 or recheck <= 0:
            raise ConfigurationError("lease and recheck must be positive seconds")
        self._url = SecretUrl(url)
        self.where = redact_url(url)
        self.ns = namespace(api_key, prefix)
        self.lease = lease
        self.recheck = recheck
        self.read_events = events
        self.id = uuid.uuid4().hex[:12]  # this process's client, in tokens and logs
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._closed = False
        self.connected = False
        self._wake = asyncio.Event()  # set by a wake-up message: waiters look again
        self._listeners: list[Callable[[], None]] = []
        self.on_event: Callable[[Mapping[str, str]], None] | None = None
        self.on_refresh: Refresh | None = None
        self._held: dict[str, str] = {}  # our lease tokens -> "s" (submitting) / "r" (running)
        self._places: set[str] = set()  # our queue places
        #: ("release", token) / ("leave", waiter) to apply once Redis answers
        self._releases: deque[tuple[str, str]] = deque()
        #: the fleet's figures at the last renewal: held, running, waiting, the limit hash
        self.fleet: tuple[int, int, int, dict[str, str]] = (0, 0, 0, {})
        self._release_ready = asyncio.Event()
        self._start_lock = asyncio.Lock()
        self._answers: set[asyncio.Task[None]] = set()
        self._renew_now = asyncio.Event()
        self.round_trips = 0
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<RedisCoordinator {self.where} {state}>"

    def key(self, name: str) -> str:
        return self.ns + name

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (once); raise :class:`CoordinationError` if Redis cannot be reached."""
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            try:
                import redis.asyncio as aioredis
            except ImportError as exc:  # pragma: no cover - the extra is installed in tests
                raise ConfigurationError(_REDIS_MISSING.format(exc)) from None
            client = aioredis.Redis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=5,
                health_check_interval=10,
            )
            try:
                await client.ping()
            except _connection_errors() as exc:
                await client.aclose()
                raise CoordinationError(
                    f"cannot reach Redis at {self.where}: {type(exc).__name__}"
                ) from None
            self._redis = client
            self.connected = True
            for name, source in (
                ("enqueue", _ENQUEUE),
                ("acquire", _ACQUIRE),
                ("accepted", _ACCEPTED),
                ("release", _RELEASE),
                ("leave", _LEAVE),
                ("renew", _RENEW),
                ("keep", _KEEP_PLACES),
                ("count", _COUNT),
            ):
                self._scripts[name] = client.register_script(source)
            loop = asyncio.get_running_loop()
            names = ["subscriber", "renewer", "releaser"]
            runs = [self._subscribe(), self._renew(), self._apply_releases()]
            if self.read_events:
                names.append("events")
                runs.append(self._read_events())
            for name, run in zip(names, runs, strict=True):
                self._tasks.append(loop.create_task(run, name=f"pixverse-redis-{name}"))
            self._started = True

    async def aclose(self) -> None:
        """Stop the background readers and close the connections (leases expire by themselves:
        jobs still running on the server keep counting until their leases run out)."""
        if self._closed:
            return
        self._closed = True
        # redis-py may turn a cancellation inside a command into a connection error, which
        # the loops would take for an outage: they also stop on the closed flag, and are
        # cancelled again until they have ended
        pending = {task for task in self._tasks if not task.done()}
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=REDIS_CLOSE_WAIT)
        with contextlib.suppress(*_connection_errors()):
            if self._pubsub is not None:
                await self._pubsub.aclose()
        with contextlib.suppress(*_connection_errors()):
            if self._redis is not None:
                await self._redis.aclose()

    @property
    def redis(self) -> Any:  # redis-py's own annotations are too loose to check against
        if self._redis is None:
            raise CoordinationError(f"Redis at {self.where} is not connected yet")
        return self._redis

    async def call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the Lua scripts (one round trip)."""
        await self.start()
        self.round_trips += 1
        try:
            result = await self._scripts[script](keys=keys, args=args)
        except _connection_errors():
            self._lost()
            raise
        self._found()
        return result

    def _lost(self) -> None:
        if self.connected:
            logger.warning(
                "Redis at %s is unreachable: no new submits until it is back", self.where
            )
        self.connected = False

    def _found(self) -> None:
        if not self.connected:
            logger.info("Redis at %s is reachable again", self.where)
            self.connected = True
            self._renew_now.set()  # re-register our leases at once (a restart lost them)
            self.wake()

    def wake(self) -> None:
        """Tell this process's waiters to look again."""
        for listener in list(self._listeners):
            listener()

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- slots held by this process --------------------------------------------------------

    def hold(self, token: str, state: Literal["s", "r"]) -> None:
        self._held[token] = state

    def queue_release(self, token: str) -> None:
        """Forget a lease now (no renewal) and remove it in Redis as soon as it answers."""
        self._held.pop(token, None)
        self._releases.append(("release", token))
        self._release_ready.set()

    def release_again(self, tokens: Iterable[str]) -> None:
        """Queue another release of tokens given back while a renewal or an acceptance of them
        was in the air: that call may have reached Redis after the release and re-created the
        lease (a release of a missing lease changes nothing)."""
        for token in tokens:
            if token not in self._held:
                self._releases.append(("release", token))
                self._release_ready.set()

    def queue_leave(self, waiter: str) -> None:
        """Leave the queue (a cancelled wait) as soon as Redis answers."""
        self._places.discard(waiter)
        self._releases.append(("leave", waiter))
        self._release_ready.set()

    def release_keys(self) -> list[str]:
        return [self.key("slots"), self.key("states"), self.key("limit"), self.key("wake")]

    def place(self, waiter: str, queued: bool) -> None:
        if queued:
            self._places.add(waiter)
        else:
            self._places.discard(waiter)

    async def _apply_releases(self) -> None:
        backoff = _Backoff()
        while not self._closed:
            await self._release_ready.wait()
            self._release_ready.clear()
            while self._releases:
                what, name = self._releases[0]
                try:
                    if what == "release":
                        await self.call("release", self.release_keys(), [name])
                    else:
                        keys = [self.key("queue"), self.key("alive"), self.key("wake")]
                        await self.call("leave", keys, [name])
                except _connection_errors():
                    await asyncio.sleep(backoff.next())
                    continue
                backoff.reset()
                self._releases.popleft()

    async def flush_releases(self) -> None:
        """Apply the queued releases now (the background releaser may repeat them: harmless)."""
        for what, name in list(self._releases):
            if what == "release":
                await self.call("release", self.release_keys(), [name])

    async def _renew(self) -> None:
        """Renew our leases and queue places every third of the lease (re-creating them after
        a Redis restart, which forgot them)."""
        every = min(self.lease / 3, self.recheck)
        while not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._renew_now.wait(), every)
            self._renew_now.clear()
            try:
                if self._held:
                    renewed = list(self._held.items())
                    args: list[Any] = [int(self.lease * 1000)]
                    for token, state in renewed:
                        args += [token, state]
                    await self.call("renew", [self.key("slots"), self.key("states")], args)
                    self.release_again(token for token, _ in renewed)
                if self._places:
                    await self.call(
                        "keep",
                        [self.key("queue"), self.key("alive")],
                        [int(_queue_ttl(self) * 1000), *self._places],
                    )
                if self._held or self._places or any(self.fleet[:3]):
                    await self.read_fleet()  # (an idle process stops reading once all is 0)
            except _connection_errors() as exc:
                logger.debug("lease renewal at %s failed: %s", self.where, type(exc).__name__)

    async def read_fleet(self) -> None:
        """Read the fleet's figures now (two round trips)."""
        keys = [self.key("slots"), self.key("states"), self.key("queue"), self.key("alive")]
        held, running, waiting, _ = await self.call("count", keys, [])
        self.round_trips += 1
        state = dict(await self.redis.hgetall(self.key("limit")))
        known = self.fleet[3]
        if known.get("learned") == "1" and state.get("learned") != "1":
            # Redis came back empty (restarted without persistence): keep the learned limit
            # rather than learning it again from a 500044
            self.round_trips += 1
            seed = {"learned": "1", "estimate": known.get("estimate", "1")}
            for field, value in seed.items():
                await self.redis.hsetnx(self.key("limit"), field, value)
            state.update(seed)
        self.fleet = (int(held), int(running), int(waiting), state)

    # -- pub/sub: wake-ups and re-poll requests --------------------------------------------

    async def _subscribe(self) -> None:
        backoff = _Backoff()
        while not self._closed:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                self._pubsub = pubsub
                await pubsub.subscribe(self.key("wake"), self.key("refresh"))
                backoff.reset()
                self.wake()  # anything released while we were not listening
                async for message in pubsub.listen():
                    channel = message.get("channel")
                    if channel == self.key("wake"):
                        self.wake()
                    elif channel == self.key("refresh"):
                        answer = asyncio.get_running_loop().create_task(
                            self._answer_refresh(message)
                        )
                        self._answers.add(answer)  # (the loop keeps only weak references)
                        answer.add_done_callback(self._answers.discard)
            except asyncio.CancelledError:
                raise
            except _connection_errors() as exc:
                self._lost()
                logger.debug("Redis subscription lost: %s", type(exc).__name__)
                with contextlib.suppress(*_connection_errors()):
                    await pubsub.aclose()  # give its connection back before making another
                await asyncio.sleep(backoff.next())
                self.wake()  # a wake-up may have been lost: look again

    async def _answer_refresh(self, message: Mapping[str, Any]) -> None:
        """Another process learns from a 500044: re-poll our jobs, then say we did."""
        ack = str(message.get("data") or "")
        try:
            if self.on_refresh is not None:
                await self.on_refresh()
            await self.flush_releases()  # jobs found ended must not be counted
            await self.redis.rpush(ack, self.id)
            await self.redis.pexpire(ack, int(REDIS_LEARN_TIMEOUT * 1000))
        except _connection_errors() as exc:
            logger.debug("refresh answer failed: %s", type(exc).__name__)
        except Exception:  # a failed re-poll must not kill the subscriber
            logger.exception("re-polling held jobs for another process failed")

    async def refresh_fleet(self) -> None:
        """Ask every process to re-poll the jobs it holds; wait (bounded) until all have."""
        ack = self.key(f"refresh:{uuid.uuid4().hex}")
        self.round_trips += 1
        listeners = int(await self.redis.publish(self.key("refresh"), ack))
        deadline = time.monotonic() + REDIS_REFRESH_TIMEOUT
        for _ in range(listeners):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.round_trips += 1
            if await self.redis.blpop([ack], timeout=max(remaining, 0.01)) is None:
                break
        await self.redis.delete(ack)

    # -- webhook events --------------------------------------------------------------------

    async def publish_event(self, fields: Mapping[str, str]) -> None:
        """Append a verified delivery to the shared stream (every client reads it)."""
        await self.start()
        self.round_trips += 1
        try:
            await self.redis.xadd(
                self.key("events"), dict(fields), maxlen=REDIS_EVENTS_MAXLEN, approximate=True
            )
        except _connection_errors():
            self._lost()
            raise
        self._found()

    async def _read_events(self) -> None:
        backoff = _Backoff()
        last: str | None = None
        stream = self.key("events")
        while not self._closed:
            try:
                if last is None or not self.connected:
                    newest = await self.redis.xrevrange(stream, count=1)
                    top = newest[0][0] if newest else "0-0"
                    if last is None or _stream_id(top) < _stream_id(last):
                        last = top  # a new stream (first start, or Redis restarted empty)
                    self._found()
                answer = await self.redis.xread({stream: last}, block=1000, count=500)
                backoff.reset()
                for _, entries in answer or ():
                    for entry_id, fields in entries:
                        last = entry_id
                        if self.on_event is not None:
                            try:
                                self.on_event(fields)
                            except Exception:
                                logger.exception("a shared webhook event could not be handled")
            except asyncio.CancelledError:
                raise
            except _connection_errors() as exc:
                self._lost()
                logger.debug("Redis event stream lost: %s", type(exc).__name__)
                await asyncio.sleep(backoff.next())


def _cancelling() -> bool:
    """Whether the current task is being cancelled (Python 3.11+; False before)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling is not None and cancelling())


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms or 0), int(seq or 0)


def _queue_ttl(coordinator: RedisCoordinator) -> float:
    """Seconds a queue place lives without renewal (a killed process leaves the queue)."""
    return max(3 * coordinator.recheck, 2 * min(coordinator.lease / 3, coordinator.recheck))


def _recovery(coordinator: RedisCoordinator) -> float:
    """Seconds no slot is granted after Redis came back empty: every live process renews (and
    so re-registers) its leases within one renewal period; twice that, plus a round trip."""
    return 2 * min(coordinator.lease / 3, coordinator.recheck) + REDIS_RECOVERY_MARGIN


class _Backoff:
    """Reconnection delays: exponential with full jitter, capped."""

    def __init__(self) -> None:
        self._attempt = 0

    def next(self) -> float:
        self._attempt += 1
        return random.uniform(0, min(REDIS_BACKOFF_MAX, 0.05 * 2**self._attempt))

    def reset(self) -> None:
        self._attempt = 0


class RedisSlot(Slot):
    """A slot whose lease lives in Redis, named by its token."""

    __slots__ = ("token",)

    def __init__(self, limiter: RedisLimiter, taken_at: float, token: str) -> None:
        super().__init__(limiter, taken_at)
        self.token = token


class RedisLimiter:
    """The :class:`~pixverse_async.Limiter` shared by every process on one account (see the
    module docstring).

    Args:
        coordinator: the client's Redis connection.
        max_concurrency: a fixed limit (the same in every process), or ``"auto"``.
        probe_interval, squeeze_pause, stall_after, slot_release: as for
            :class:`~pixverse_async.SlotLimiter`, fleet-wide.
    """

    def __init__(
        self,
        coordinator: RedisCoordinator,
        max_concurrency: int | Literal["auto"] = "auto",
        *,
        probe_interval: float = LIMIT_PROBE_INTERVAL,
        squeeze_pause: float = SQUEEZE_PAUSE,
        stall_after: float = SUBMIT_STALL_SECONDS,
        slot_release: float = SLOT_RELEASE_SECONDS,
    ) -> None:
        if max_concurrency != "auto" and (
            not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(
                f"max_concurrency must be a positive int or 'auto', not {max_concurrency!r}"
            )
        self._c = coordinator
        self.mode = "auto" if max_concurrency == "auto" else "fixed"
        self._fixed = 0 if max_concurrency == "auto" else int(max_concurrency)
        self.probe_interval = probe_interval
        self.squeeze_pause = squeeze_pause
        self.stall_after = stall_after
        self.slot_release = slot_release
        self._refresh: Refresh | None = None
        #: our queued waiters by fleet ticket: only the one with the lowest ticket asks Redis
        #: (the others are behind it anyway), so a wake-up costs one round trip per process
        self._tickets: dict[str, int] = {}
        self._order: list[tuple[int, str]] = []  # a heap of (ticket, waiter), lazily pruned
        self._rejections = 0
        #: seconds from the last release (fleet-wide, Redis clock) to a grant that waited
        self._grants: deque[float] = deque(maxlen=REDIS_GRANT_SAMPLES)
        self._events: dict[str, asyncio.Event] = {}  # each waiter's wake-up
        coordinator.on_refresh = self._refresh_local
        coordinator.listen(self._wake_head)

    def __repr__(self) -> str:
        return f"<RedisLimiter {self.mode} at {self._c.where}>"

    def bind(self, refresh: Refresh) -> None:
        self._refresh = refresh

    async def _refresh_local(self) -> None:
        if self._refresh is not None:
            await self._refresh()

    def _keys(self) -> list[str]:
        k = self._c.key
        return [k("slots"), k("states"), k("queue"), k("alive"), k("limit"), k("ticket")]

    # -- acquiring -------------------------------------------------------------------------

    async def acquire(self) -> Slot:
        """Wait for a slot, in fleet-wide arrival order. Cancelling the wait takes none.

        Only this process's waiter with the lowest ticket asks Redis (on a wake-up, or every
        ``recheck`` seconds); the others sleep until they are first, so a wake-up costs one
        round trip and one task switch per process however many submits wait.
        """
        c = self._c
        await c.start()
        waiter = f"{c.id}:{uuid.uuid4().hex[:12]}"
        token = f"{c.id}:{uuid.uuid4().hex[:12]}"
        woken = self._events[waiter] = asyncio.Event()
        c.place(waiter, True)
        backoff = _Backoff()
        queued = False
        tries = 0
        try:
            while True:
                woken.clear()
                try:
                    if not queued:
                        ttl = int(_queue_ttl(c) * 1000)
                        ticket = int(await c.call("enqueue", self._keys(), [waiter, ttl]))
                        self._tickets[waiter] = ticket
                        heapq.heappush(self._order, (ticket, waiter))
                        queued = True
                        self._wake_head()  # a lower ticket than the head's: the head changed
                    if self._first() == waiter:
                        code, gap = await c.call(
                            "acquire",
                            [*self._keys()[:5], c.key("epoch")],
                            [
                                waiter,
                                token,
                                int(c.lease * 1000),
                                self._fixed,
                                int(self.stall_after * 1000),
                                int(self.probe_interval * 1000),
                                int(_queue_ttl(c) * 1000),
                                int(_recovery(c) * 1000),
                            ],
                        )
                        if int(code) == -2:
                            queued = False  # our place expired (Redis was away): queue again
                            continue
                        if int(code) >= 0:
                            if tries and int(gap) >= 0:  # it waited: a release let it in
                                self._grants.append(int(gap) / 1000)
                            return self._granted(waiter, token, probe=int(code) == 1)
                        tries += 1
                        wait = c.recheck
                    else:
                        # behind another of ours: woken when first (a long safety net only)
                        wait = c.recheck * REDIS_BEHIND_RECHECKS
                    backoff.reset()
                except _connection_errors():
                    if _cancelling():  # a cancellation redis-py reported as a lost connection
                        raise asyncio.CancelledError from None
                    wait = backoff.next()
                    queued = False
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(woken.wait(), wait)
        except BaseException:
            self._forget(waiter)
            c.queue_leave(waiter)
            # a grant whose answer was lost to the cancellation is given back too
            c.queue_release(token)
            raise

    def _wake_head(self) -> None:
        """Wake this process's first waiter (a wake-up message, or the head changed)."""
        event = self._events.get(self._first() or "")
        if event is not None:
            event.set()

    def _granted(self, waiter: str, token: str, *, probe: bool) -> Slot:
        self._forget(waiter)
        slot = RedisSlot(self, time.monotonic(), token)
        slot.probe = probe
        self._c.hold(token, "s")
        return slot

    def _first(self) -> str | None:
        """Our queued waiter with the lowest ticket."""
        order = self._order
        while order and self._tickets.get(order[0][1]) != order[0][0]:
            heapq.heappop(order)  # granted, cancelled, or queued again under a new ticket
        return order[0][1] if order else None

    def _forget(self, waiter: str) -> None:
        self._events.pop(waiter, None)
        was_first = self._first() == waiter
        self._tickets.pop(waiter, None)
        self._c.place(waiter, False)
        if was_first:
            self._wake_head()  # the next of ours may fit too

    # -- outcomes --------------------------------------------------------------------------

    async def accepted(self, slot: Slot) -> None:
        """The job exists: the lease is held (and renewed) until it ends."""
        assert isinstance(slot, RedisSlot)
        if slot.released or slot.accepted:
            return
        slot.accepted = True
        self._c.hold(slot.token, "r")
        slot._timer = asyncio.get_running_loop().call_later(self.slot_release, slot.release)
        with contextlib.suppress(*_connection_errors()):  # the renewer marks it running later
            await self._c.call(
                "accepted",
                self._c.release_keys(),
                [slot.token, int(self._c.lease * 1000), 0 if self._fixed else 1],
            )
        self._c.release_again([slot.token])  # the job may have ended during the call
        if slot.probe and self._fixed == 0:
            await self._learn(slot, rejected=False)

    async def rejected(self, slot: Slot) -> None:
        """A 500044: give the slot back, then (one process at a time) learn from it."""
        assert isinstance(slot, RedisSlot)
        if slot.released:
            return
        self._rejections += 1
        self.release(slot)
        with contextlib.suppress(*_connection_errors()):
            await self._c.redis.hincrby(self._c.key("limit"), "rejections", 1)
            await self._learn(slot, rejected=True)

    async def _learn(self, slot: RedisSlot, *, rejected: bool) -> None:
        c = self._c
        lock = c.key("learner")
        pause_ms = int(REDIS_LEARN_TIMEOUT * 1000)
        if not await c.redis.set(lock, c.id, nx=True, px=pause_ms):
            return  # another process is learning; its verdict will do for us
        try:
            if rejected:  # no grants fleet-wide until the jobs are counted
                server_ms = await self._server_ms()
                await c.redis.hset(c.key("limit"), "paused_until", server_ms + pause_ms)
            # our own release must have landed before counting
            await self._drain_release(slot.token)
            await c.refresh_fleet()
            held, running, _, now_ms = await c.call("count", self._keys()[:4], [])
            state = await c.redis.hgetall(c.key("limit"))
            learned = state.get("learned") == "1"
            estimate = int(state.get("estimate") or 0)
            update: dict[str, Any] = {}
            if rejected:
                verdict = judge_500044(
                    fixed=self._fixed > 0,
                    learned=learned,
                    estimate=estimate,
                    held=int(held),
                    running=int(running),
                    probe=slot.probe,
                )
                if self._fixed == 0:
                    update |= {"learned": int(verdict.learned), "estimate": verdict.estimate}
                if verdict.changed or verdict.probe_refused:
                    update["last_probe"] = now_ms
                if verdict.squeeze:
                    update["squeezed_until"] = now_ms + int(self.squeeze_pause * 1000)
            elif learned and int(running) > estimate:  # an accepted probe, verified
                update["estimate"] = int(running)
            if update:
                await c.redis.hset(c.key("limit"), mapping=update)
        finally:
            with contextlib.suppress(*_connection_errors()):
                await c.redis.hdel(c.key("limit"), "paused_until")
                if await c.redis.get(lock) == c.id:
                    await c.redis.delete(lock)
                await c.redis.publish(c.key("wake"), "1")

    async def _server_ms(self) -> int:
        seconds, micros = await self._c.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def _drain_release(self, token: str) -> None:
        """Apply a queued release of ``token`` now (learning counts what Redis holds)."""
        c = self._c
        if ("release", token) in c._releases:
            await c.call("release", c.release_keys(), [token])

    def release(self, slot: Slot) -> None:
        """Give the slot back: at once locally, in Redis as soon as it answers."""
        assert isinstance(slot, RedisSlot)
        if slot.released:
            return
        slot.released = True
        if slot._timer is not None:
            slot._timer.cancel()
        self._c.queue_release(slot.token)

    # -- statistics ------------------------------------------------------------------------

    async def refresh_statistics(self) -> LimiterStatistics:
        """The fleet's figures, read from Redis now."""
        with contextlib.suppress(*_connection_errors()):
            await self._c.read_fleet()
        return self.statistics()

    def statistics(self) -> LimiterStatistics:
        """The fleet's figures at the last lease renewal (every ``recheck`` seconds at most;
        :meth:`refresh_statistics` reads them now) and this process's share."""
        held, running, waiting, state = self._c.fleet
        learned = self._fixed > 0 or state.get("learned") == "1"
        limit = self._fixed or (int(state.get("estimate") or 0) if learned else None)
        return LimiterStatistics(
            mode=self.mode,
            limit=limit,
            learned=learned,
            in_flight=held,
            running=running,
            waiting=waiting,
            rejected_500044=self._rejections,
            max_running=int(state.get("max_running") or 0),
            shared=True,
            local_in_flight=len(self._c._held),
            local_waiting=len(self._events),
            connected=self._c.connected,
        )

    def grant_latencies(self) -> list[float]:
        """Seconds from the fleet's last release to each recent grant that had waited (both
        on the Redis server's clock): how promptly a freed slot is taken (benchmarks)."""
        return list(self._grants)

    async def aclose(self) -> None:
        """Leases of jobs still running expire by themselves (see the module docstring)."""


class RedisNonceStore:
    """A :class:`~pixverse_async.webhooks.NonceStore` shared through Redis (``SET NX PX``)."""

    def __init__(self, coordinator: RedisCoordinator, name: str = "nonce") -> None:
        self._c = coordinator
        self._name = name

    async def seen(self, nonce: str, *, expires_at: float, now: float) -> bool:
        await self._c.start()
        ttl = max(1, int((expires_at - now) * 1000))
        self._c.round_trips += 1
        created = await self._c.redis.set(self._c.key(f"{self._name}:{nonce}"), 1, nx=True, px=ttl)
        return not created

    async def forget(self, nonce: str) -> None:
        await self._c.start()
        await self._c.redis.delete(self._c.key(f"{self._name}:{nonce}"))


def event_fields(event: Any) -> dict[str, str]:
    """A webhook event as stream fields (strings)."""
    return {
        "id": str(event.id),
        "status": str(event.status),
        "url": event.url or "",
        "size": str(event.size),
        "has_audio": "1" if event.has_audio else "0",
        "credits": str(event.credits),
    }


def fields_event(fields: Mapping[str, str]) -> dict[str, Any]:
    """Stream fields back to a webhook event's values."""
    size = float(fields.get("size") or 0)
    return {
        "id": int(fields["id"]),
        "status": int(fields["status"]),
        "url": fields.get("url") or "",
        "size": int(size) if size.is_integer() else size,
        "has_audio": fields.get("has_audio") == "1",
        "credits": int(fields.get("credits") or 0),
    }


__all__ = [
    "CoordinationError",
    "RedisCoordinator",
    "RedisLimiter",
    "RedisNonceStore",
    "SecretUrl",
    "namespace",
    "redact_url",
]
