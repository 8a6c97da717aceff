"""FastAPI integration (``pip install 'pixverse-async[fastapi]'``).

One client per app, opened by the app's lifespan and closed on shutdown; a dependency that
hands it to handlers; and a router that receives PixVerse webhooks::

    from fastapi import FastAPI
    from pixverse_async import AsyncPixVerse
    from pixverse_async.fastapi import PixVerseClient, pixverse_lifespan, webhook_router

    app = FastAPI(lifespan=pixverse_lifespan(webhook_secret="..."))
    app.include_router(webhook_router())          # POST /pixverse/webhook


    @app.post("/remix")
    async def remix(video_id: int, prompt: str, client: PixVerseClient) -> dict[str, str]:
        job = await client.video.modify(source_video_id=video_id, prompt=prompt, quality="540p")
        result = await job.wait(timeout=600)      # ended by the webhook, or by polling
        return {"url": result.url or ""}

With a webhook secret (argument, or ``$PIXVERSE_WEBHOOK_SECRET``) the default client runs in
webhook mode (``AsyncPixVerse(webhooks=True)``): video jobs wait for their delivery and are
polled only as a slow fallback. Without one, jobs are polled.

Several workers (``uvicorn app:app --workers N``, or several hosts) share the account when
``$PIXVERSE_REDIS_URL`` is set (extra ``redis``): each worker's client reads it, connects at
start-up (an unreachable or malformed URL fails the start-up with a
:class:`~pixverse_async.CoordinationError` naming the URL, password redacted), and then every
worker shares one generation-slot limiter, the webhook nonces (a replay to another worker is
refused) and the accepted deliveries (a duplicate to another worker is not dispatched twice).
PixVerse delivers each webhook to one worker; that worker ends the wait in whichever worker
holds the job, at once. If Redis goes away, each worker keeps handling the deliveries it
receives for its own jobs (the others catch up by the fallback poll).

To combine with a lifespan of your own, enter this one inside it::

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with pixverse_lifespan()(app):
            ...  # your start-up
            yield
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from ._client import AsyncPixVerse
from ._constants import ENV_WEBHOOK_SECRET, WEBHOOK_MAX_BODY, WEBHOOK_PATH, WEBHOOK_TOLERANCE
from .webhooks import EventCallback, NonceStore, WebhookReceiver

#: ``app.state`` attributes set by :func:`pixverse_lifespan`
STATE_CLIENT = "pixverse"
STATE_RECEIVER = "pixverse_webhooks"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def pixverse_lifespan(
    client_factory: Callable[[], AsyncPixVerse] | None = None,
    *,
    webhook_secret: str | None = None,
    on_event: EventCallback | None = None,
    tolerance: float = WEBHOOK_TOLERANCE,
    nonces: NonceStore | None = None,
    deliveries: NonceStore | None = None,
) -> Lifespan:
    """A FastAPI lifespan that opens one :class:`AsyncPixVerse` for the app and closes it.

    The client is created at start-up, inside the server's event loop (its session is created
    there), shared by every request through :func:`get_client` / :data:`PixVerseClient`, and
    closed at shutdown (waiting handlers get :class:`~pixverse_async.ClientClosedError`).
    It is opened with ``async with``: with a Redis URL the connection is made at start-up,
    and an unreachable Redis fails the start-up (:class:`~pixverse_async.CoordinationError`).

    Args:
        client_factory: builds the client; default ``AsyncPixVerse(webhooks=<secret given>)``
            (key, URL and Redis URL from ``$PIXVERSE_API_KEY``, ``$PIXVERSE_BASE_URL`` and
            ``$PIXVERSE_REDIS_URL``).
        webhook_secret: the account webhook's secret; default ``$PIXVERSE_WEBHOOK_SECRET``.
            With one, :func:`webhook_router` accepts deliveries and resolves waiting jobs.
        on_event: also called with each new webhook event (sync or async).
        tolerance: seconds a delivery's timestamp may differ from now.
        nonces: nonce store shared by the app's workers (default: in Redis when the client
            has a Redis URL, else in memory).
        deliveries: store of accepted (id, status) pairs shared by the app's workers
            (default: in Redis when the client has a Redis URL, else none).
    """
    secret = webhook_secret if webhook_secret is not None else os.environ.get(ENV_WEBHOOK_SECRET)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if client_factory is not None:
            client = client_factory()
        else:
            client = AsyncPixVerse(webhooks=bool(secret))
        receiver = None
        if secret:
            receiver = WebhookReceiver(
                secret,
                client=client,
                on_event=on_event,
                tolerance=tolerance,
                nonces=nonces,
                deliveries=deliveries,
            )
        setattr(app.state, STATE_CLIENT, client)
        setattr(app.state, STATE_RECEIVER, receiver)
        try:
            async with client:  # connects to Redis now (CoordinationError if it cannot)
                yield
        finally:
            await client.aclose()  # idempotent; also closes a client that failed to open
            setattr(app.state, STATE_CLIENT, None)
            setattr(app.state, STATE_RECEIVER, None)

    return lifespan


def get_client(request: Request) -> AsyncPixVerse:
    """Dependency: the app's client (see :func:`pixverse_lifespan`)."""
    client = getattr(request.app.state, STATE_CLIENT, None)
    if not isinstance(client, AsyncPixVerse):
        raise RuntimeError(
            "no PixVerse client on this app: create it with FastAPI(lifespan=pixverse_lifespan())"
        )
    return client


#: ``client: PixVerseClient`` in a handler's parameters injects the app's client
PixVerseClient = Annotated[AsyncPixVerse, Depends(get_client)]


def webhook_router(
    *, path: str = WEBHOOK_PATH, receiver: WebhookReceiver | None = None
) -> APIRouter:
    """A router receiving PixVerse webhook deliveries at ``POST path``.

    It reads the raw body before parsing anything (the signature covers the exact bytes) and
    answers ``ok`` (200) for a genuine delivery or a duplicate, 401 for a bad signature, stale
    timestamp or replayed nonce, 400 for a malformed body, 413 for one over 64 KiB. Without
    ``receiver`` it uses the one :func:`pixverse_lifespan` created (404 when no secret is set).
    """
    router = APIRouter()

    @router.post(path, include_in_schema=False, response_class=PlainTextResponse)
    async def pixverse_webhook(request: Request) -> PlainTextResponse:
        handler = receiver or getattr(request.app.state, STATE_RECEIVER, None)
        if not isinstance(handler, WebhookReceiver):
            raise HTTPException(404, "PixVerse webhooks are not configured (no webhook secret)")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > WEBHOOK_MAX_BODY:
                return PlainTextResponse("body too large", status_code=413)
        reply = await handler.handle(request.headers, bytes(body))
        return PlainTextResponse(reply.body, status_code=reply.status)

    return router


__all__ = [
    "STATE_CLIENT",
    "STATE_RECEIVER",
    "PixVerseClient",
    "get_client",
    "pixverse_lifespan",
    "webhook_router",
]
