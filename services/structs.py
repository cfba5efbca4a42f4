"""One Struct built from another's fields of the same names: a view row from the car it shows, a file's round
from the calendar's.

Where a read model repeats a source's fields under the same names, listing each ``name=source.name`` again is a
copy to keep in step by hand; :func:`carried` reads the names off the target Struct instead, so a field added to
both is carried without another line. A target field the source does not hold (and that is not ``given``) is an
``AttributeError``: a mismatch shows at once rather than as a silent default.
"""

from __future__ import annotations

from typing import TypeVar

from msgspec import Struct

S = TypeVar("S", bound=Struct)


def carried(target: type[S], source: object, **given: object) -> S:
    """A ``target`` whose fields are ``source``'s attributes of the same names, except those ``given``."""
    taken = {name: getattr(source, name) for name in target.__struct_fields__ if name not in given}
    return target(**taken, **given)
