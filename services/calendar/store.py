"""Reading calendars where the standings projector writes them (KV ``chequered_standings``, key
``<championship>.calendar``): for the gateway, ``chequered calendar`` and ``chequered rejects``."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError

from schemas.calendar import SeasonCalendar, decode_calendar
from schemas.subjects import STANDINGS_BUCKET, calendar_key

_SUFFIX = calendar_key("")


async def read_calendar(js: JetStreamContext, championship: str) -> SeasonCalendar | None:
    """The championship's calendar; None when none was published (or no projector has written it yet)."""
    try:
        kv = await js.key_value(STANDINGS_BUCKET)
        data = (await kv.get(calendar_key(championship))).value
    except (BucketNotFoundError, KeyNotFoundError):
        return None
    return decode_calendar(data) if data else None


async def championships(js: JetStreamContext) -> list[str]:
    """The championships with a calendar, sorted."""
    try:
        keys = await (await js.key_value(STANDINGS_BUCKET)).keys()
    except (BucketNotFoundError, NoKeysError):
        return []
    return sorted(key.removesuffix(_SUFFIX) for key in keys if key.endswith(_SUFFIX) and key.count(".") == 1)


async def read_calendars(js: JetStreamContext) -> list[SeasonCalendar]:
    found = [await read_calendar(js, name) for name in await championships(js)]
    return [calendar for calendar in found if calendar is not None]
