"""``chequered report`` and ``chequered serve documents`` as a user runs them (the installed ``chequered``, a real
nats-server), and the documents through the gateway."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import msgspec
from nats.aio.client import Client

from schemas.analysis import DocumentsIndex
from schemas.events import Event, ResultsDeclared, ResultsStatus
from schemas.subjects import DOCUMENTS_BUCKET
from services.documents.report import PDF, Document
from services.documents.service import DocumentsService
from services.documents.store import stored_index
from services.gateway.server import GatewayService
from services.ingest.service import IngestService
from tests.analysis.races import hand_race
from tests.documents.rendered import pages
from tests.factory import SessionWriter
from tests.gateway.clients import TOKEN
from tests.live import send
from tests.polling import until
from tests.reliability.processes import CHEQUERED, ServiceProcess

NAMES = ["classification.pdf", "best-sectors.pdf", "fastest-laps.pdf", "pit-stops.pdf", "driving-time.pdf"]
RACE_NAMES = [*NAMES, "lap-chart.pdf", "analysis.csv"]


def chequered(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHEQUERED), *args, "--home", str(home)], capture_output=True, text=True, timeout=120, check=False
    )


async def test_report_writes_every_document_of_a_session(
    ingest: IngestService, nc: Client, nats_url: str, tmp_path: Path
) -> None:
    w = SessionWriter()
    stored = await send(nc, [*hand_race(w), w.event(ResultsDeclared(status=ResultsStatus.PROVISIONAL), 800_000)])
    out = tmp_path / "docs"
    done = await asyncio.to_thread(
        chequered, "report", w.session.key, "--out", str(out), "--nats", nats_url, home=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(RACE_NAMES)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("classification.pdf: Classification, 1 page, ")
    assert lines[-1] == f"7 documents of {w.session.key} in {out}"
    assert all(len(line) <= 80 for line in lines[:-1])
    classification = pages(Document("classification.pdf", "", PDF, (out / "classification.pdf").read_bytes()))[0]
    assert classification[0] == "Test race PROVISIONAL"
    assert "2 1 Pro 2 Team 1 A. One / A. Two GT3 6 0:10:28.500 +25.000 +25.000 1:39.000 5 1" in classification

    before = tmp_path / "before"  # as the log stood before the declaration: not declared yet
    done = await asyncio.to_thread(
        chequered, "report", w.session.key, "--out", str(before), "--seq", str(stored[-2][0]), "--nats", nats_url,
        home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    stamp = pages(Document("driving-time.pdf", "", PDF, (before / "driving-time.pdf").read_bytes()))[0][0]
    assert stamp == "Test race NOT DECLARED"


async def test_report_says_what_is_wrong_in_one_line(
    ingest: IngestService, nc: Client, nats_url: str, tmp_path: Path
) -> None:
    w = SessionWriter()
    await send(nc, hand_race(w)[:3])
    a_file = tmp_path / "taken"
    a_file.write_text("not a directory")
    cases = [
        (("report", "nobody.here.race", "--out", str(tmp_path / "x")), "no events of session nobody.here.race"),
        (("report", w.session.key, "--out", str(a_file)), f"cannot write documents to {a_file}"),
        (("report", "not-a-key", "--out", str(tmp_path / "x")), "session key 'not-a-key'"),
    ]
    for args, reason in cases:
        done = await asyncio.to_thread(chequered, *args, "--nats", nats_url, home=tmp_path)
        said = " ".join(done.stdout.split())  # one message (rich wraps it at the terminal's width)
        assert done.returncode == 2, done.stdout + done.stderr
        assert said.startswith("error: ") and reason in said, said
        assert said.count("error: ") == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr


async def _index(nc: Client, key: str) -> DocumentsIndex | None:
    js = nc.jetstream()
    return await stored_index(js, await js.object_store(DOCUMENTS_BUCKET), key)


async def declare(nc: Client, w: SessionWriter, status: ResultsStatus, at: int) -> int:
    return (await send(nc, [w.event(ResultsDeclared(status=status), at)]))[0][0]


async def test_documents_are_stored_when_results_are_declared_and_served_by_the_gateway(
    ingest: IngestService, nc: Client, nats_url: str
) -> None:
    w = SessionWriter()
    await send(nc, hand_race(w))
    service = DocumentsService(nats_url)
    gateway = GatewayService(nats_url, {TOKEN}, port=0)
    await service.start()
    await gateway.start()
    try:
        provisional = await declare(nc, w, ResultsStatus.PROVISIONAL, 800_000)

        async def stored(seq: int) -> bool:
            index = await _index(nc, w.session.key)
            return index is not None and index.declared_seq == seq

        await until(lambda: stored(provisional), "the provisional documents")
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as api:
            listed = msgspec.json.decode(
                (await api.get(f"/api/sessions/{w.session.key}/documents")).content, type=DocumentsIndex
            )
            assert [d.name for d in listed.documents] == RACE_NAMES
            assert listed.results is ResultsStatus.PROVISIONAL
            pdf = await api.get(f"/api/sessions/{w.session.key}/documents/classification.pdf")
            assert pdf.headers["content-type"] == "application/pdf"
            assert pages(Document("classification.pdf", "", PDF, pdf.content))[0][0] == "Test race PROVISIONAL"
            assert (await api.get(f"/api/sessions/{w.session.key}/documents/index.json")).status_code == 404
            assert (await api.get(f"/api/sessions/{w.session.key}/documents/../x")).status_code == 404
            assert (await api.get("/api/sessions/no.such.race/documents")).status_code == 404

            final = await declare(nc, w, ResultsStatus.FINAL, 900_000)
            await until(lambda: stored(final), "the final documents")
            pdf = await api.get(f"/api/sessions/{w.session.key}/documents/classification.pdf")
            assert pages(Document("classification.pdf", "", PDF, pdf.content))[0][0] == "Test race OFFICIAL"
    finally:
        await gateway.stop()
        await service.stop()

    store = await nc.jetstream().object_store(DOCUMENTS_BUCKET)
    kept = (await store.get_info(f"{w.session.key}/classification.pdf")).nuid
    again = DocumentsService(nats_url)
    await again.start()
    try:
        await until(lambda: _ready(again), "the restarted service to read the log")
        assert again.generated[w.session.key] == final
    finally:
        await again.stop()
    assert (await store.get_info(f"{w.session.key}/classification.pdf")).nuid == kept, "not rendered again"


async def _ready(service: DocumentsService) -> bool:
    return service.ready


async def test_serve_documents_as_a_process(ingest: IngestService, nc: Client, nats_url: str, tmp_path: Path) -> None:
    w = SessionWriter()
    events: list[Event] = [*hand_race(w), w.event(ResultsDeclared(status=ResultsStatus.FINAL), 800_000)]
    with ServiceProcess("documents", nats_url, tmp_path):
        stored = await send(nc, events)

        async def generated() -> bool:
            index = await _index(nc, w.session.key)
            return index is not None and index.declared_seq == stored[-1][0]

        await until(generated, "chequered serve documents to store the documents", timeout=60)
