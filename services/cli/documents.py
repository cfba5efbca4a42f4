"""``chequered report``: a session's official documents, from the log, into a directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.events import SessionRef
from services.broker.reader import read_events
from services.cli.bootstrap import console, nats_client

if TYPE_CHECKING:
    from services.documents.report import Document


def _writable(directory: Path) -> Path:
    """``directory``, created if missing; a ``ValueError`` saying what is wrong when it cannot be written to."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot write documents to {directory}: {error.strerror}; choose another --out") from None
    return directory


async def report(args: argparse.Namespace) -> int:
    from services.documents.report import session_documents  # the PDF library, for this command only

    session = SessionRef.parse(args.session)
    out = _writable(args.out)
    async with nats_client(args, "chequered-report") as nc:
        events = await read_events(nc.jetstream(), session.key)
    if not events:
        raise LookupError(f"no events of session {session.key} in the stream")

    def write(document: Document) -> None:
        path = out / document.name
        try:
            path.write_bytes(document.data)
        except OSError as error:
            raise ValueError(f"cannot write {path}: {error.strerror}") from None
        count = document.info.pages
        pages = f"{count} page{'s' if count > 1 else ''}, " if count else ""
        console.print(f"{document.name}: {document.title}, {pages}{len(document.data) / 1024:,.0f} KiB", soft_wrap=True)

    documents = session_documents(events, session, until_seq=args.seq, progress=write)
    console.print(f"[green]{len(documents)} documents[/green] of {session.key} in {out}", soft_wrap=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "report", parents=[broker], help="a session's official documents (PDF) and lap analysis (CSV) from the log"
    )
    parser.add_argument("session", help="championship.event.session")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the documents to")
    parser.add_argument("--seq", type=int, help="as the log stood at this stream sequence (e.g. a declaration)")
    parser.set_defaults(handler=report)
