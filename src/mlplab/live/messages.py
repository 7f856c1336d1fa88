"""What the live app's routes read and answer: a request's JSON body and its tab id (``sid``), strict JSON answers
(NaN and inf as null), one-line errors (400, or 429 for a run refused by a limit of the server) and the event
stream's encoding of a frame."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..runtime.fileio import finite as _finite  # strict JSON: NaN and inf as null
from . import limits
from .validate import SettingsError


def _json(obj, status=200):
    return JSONResponse(_finite(obj), status_code=status)




def _event_json(payload: dict) -> str:
    """JSON for one event. Frames are made finite where they are built, so the walk through every
    value that turns NaN and inf into null (:func:`_finite`, ~1000 calls for a frame of the book's
    network, taken from the training thread's share of the GIL) runs only when one slipped through."""
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(payload), separators=(",", ":"))


def _error(message, status=400):
    return JSONResponse({"error": str(message)}, status_code=status)


def _refusal(e: SettingsError):
    """A refused setting answers 400, a run refused by a limit of the server 429."""
    return _error(e, 429 if isinstance(e, limits.RunRefused) else 400)


async def _body(request: Request) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SettingsError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise SettingsError("the request body must be a JSON object")
    return body


def _sid(value) -> str:
    sid = str(value or "")
    if not (1 <= len(sid) <= 64 and sid.replace("-", "").isalnum()):
        raise SettingsError("missing or malformed tab id (sid)")
    return sid
