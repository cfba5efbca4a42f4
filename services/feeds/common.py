"""What the feed adapters share: text decoding, car-number cleaning and local times of day to instants.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FALLBACK_DAY = date(2000, 1, 1)
"""The session day when neither the caller nor the feed gives one."""
BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte-order mark: text that starts with it was written by a UTF-8 tool."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def without_bom(data: bytes) -> tuple[bytes, bool]:
    """``data`` without a leading UTF-8 byte-order mark, and whether it had one."""
    if data.startswith(BOM):
        return data[len(BOM) :], True
    return data, False


def decode_text(data: bytes, *, utf8: bool = True) -> str:
    """``data`` as UTF-8 when ``utf8`` and it is valid UTF-8, else as cp1252 (undefined bytes replaced)."""
    if utf8:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data.decode("cp1252", errors="replace")


def alnum(text: str) -> str:
    """``text`` with all but ASCII letters and digits removed, cut to 8: a car number's alphabet and length
    (empty when nothing is left)."""
    return _NOT_ALNUM.sub("", text)[:8]


def local_epoch_ms(day: date, local_ms: int, zone: ZoneInfo) -> int:
    """The instant (epoch ms) of the local time ``local_ms`` after midnight of ``day`` in ``zone`` (more than a day
    reaches into the following days)."""
    wall = (datetime.combine(day, time()) + timedelta(milliseconds=local_ms)).replace(tzinfo=zone)
    return (wall - _EPOCH) // timedelta(milliseconds=1)
