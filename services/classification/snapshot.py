"""Snapshots of the classification fold: a restart or rebuild need not start from sequence 0.

A snapshot is the folded state of one session as it is
(:class:`~services.classification.state.SessionState`, its cars and their
stops and stints are msgspec Structs), in MessagePack behind a format version.
Restoring it and folding the rest of the log gives exactly what folding the
whole log gives (a property test checks it). Sets and maps are written sorted,
so the same state gives the same bytes. A snapshot of another version is
ignored, never guessed at, and the fold starts from the log instead.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from services.classification.fold import SessionFold

SNAPSHOT_VERSION = 4
"""2: the race-control messages are part of the state. 3: the state's own Structs (stops, stints and flag periods
by name), written as they are. 4: the events seen without their session's key. A snapshot of an earlier version is
ignored and the fold starts from the log."""


class Snapshot(Struct):
    v: int
    state: SessionFold


_encoder = msgspec.msgpack.Encoder(order="deterministic")
_decoder = msgspec.msgpack.Decoder(Snapshot)


def encode(state: SessionFold) -> bytes:
    return _encoder.encode(Snapshot(SNAPSHOT_VERSION, state))


def decode(data: bytes) -> SessionFold | None:
    """The state in a stored snapshot, or None when it is of another format version (fold from the log)."""
    try:
        snapshot = _decoder.decode(data)
    except msgspec.MsgspecError:
        return None
    return snapshot.state if snapshot.v == SNAPSHOT_VERSION else None
