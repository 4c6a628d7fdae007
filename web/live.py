"""Live progress over a WebSocket at ``/ws``: a run's events as they happen.

``/ws?run_id=R&after=N`` first replays the run's stored events with an id
above N (so a client that reconnects misses nothing), then streams new ones
as the hub (``tasks/live.py``) announces them, always in id order. Every
message is one JSON event; a ``{"kind": "ping"}`` comes every 15 s of
silence. Credentials are checked before the handshake, like any other
request, and a browser's cross-site handshake is refused by its Origin.
"""

from __future__ import annotations

import json
import queue
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed
from sqlalchemy import func, select
from wsproto.utilities import RemoteProtocolError

from matf.errors import Forbidden, UsageError
from matf.storage.models import Event
from matf.storage.runs import get_run
from web.errors import problem
from web.routes.common import db, iso_req, runtime
from web.security import authorize

bp = Blueprint("live", __name__)
sock = Sock()
PING_S = 15.0
MAX_EVENT_ID = 2**63 - 1  # SQLite's integer


@bp.before_request
def _check() -> None:
    authorize("viewer")
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise Forbidden("cross-site WebSocket refused")
    run_id = request.args.get("run_id")
    if run_id is not None:
        with db() as session:
            get_run(session, run_id)
    try:
        after = int(request.args.get("after", "0"))
    except ValueError as exc:
        raise UsageError("after must be an event id (an integer)") from exc
    if not 0 <= after <= MAX_EVENT_ID:
        raise UsageError(f"after must be an event id (an integer from 0 to {MAX_EVENT_ID})")


@bp.errorhandler(RemoteProtocolError)
def _bad_handshake(exc: RemoteProtocolError) -> Response:
    """A handshake wsproto refuses (no key, a version other than 13): the client's fault."""
    return problem(400, f"not a WebSocket handshake: {str(exc).splitlines()[0]}")


@sock.route("/ws", bp=bp)
def stream(ws: Any) -> None:
    run_id = request.args.get("run_id")
    after = int(request.args.get("after", "0"))
    if run_id is None and after == 0:
        after = _last_id()  # all runs: only what happens from now on
    with runtime().subscribe() as inbox:
        after = _send_stored(ws, run_id, after)
        while ws.connected:
            try:
                event = inbox.get(timeout=PING_S)
            except queue.Empty:
                ws.send(json.dumps({"kind": "ping"}))
                after = _send_stored(ws, run_id, after)  # whatever a full inbox dropped
                continue
            if run_id is not None and event.get("run_id") != run_id:
                continue
            try:
                after = _send_stored(ws, run_id, after)
            except ConnectionClosed:
                return


def _send_stored(ws: Any, run_id: str | None, after: int) -> int:
    """Send the stored events after ``after``, in id order; the last id sent.

    A live event is only a wake-up: loggers on several threads or hosts publish
    in whatever order they finish, but the database (one writer at a time)
    hands out ids in commit order, so reading it keeps the stream in order and
    lets a client resume from the last id it saw without a gap.
    """
    for event in _stored(run_id, after):
        ws.send(json.dumps(event, default=str))
        after = event["id"]
    return after


def _last_id() -> int:
    with db() as session:
        return int(session.scalar(select(func.max(Event.id))) or 0)


def _stored(run_id: str | None, after: int) -> list[dict[str, Any]]:
    query = select(Event).where(Event.id > after).order_by(Event.id).limit(5000)
    if run_id is not None:
        query = query.where(Event.run_id == run_id)
    with db() as session:
        return [
            {
                "id": e.id,
                "key": e.key,
                "kind": e.kind,
                "agent": e.agent,
                "run_id": e.run_id,
                "at": iso_req(e.created_at),
                "payload": e.payload,
            }
            for e in session.scalars(query)
        ]
