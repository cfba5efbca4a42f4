"""The official documents, rendered: each PDF's pages turned into images and their text read back, row by row
(:func:`tests.documents.rendered.pages`)."""

from __future__ import annotations

from schemas.events import (
    Event,
    PenaltyIssued,
    PenaltyKind,
    ResultsDeclared,
    ResultsStatus,
    SessionStarted,
)
from services.classification.fold import fold_until
from services.documents.pdf import latin
from services.documents.report import Document, session_documents
from services.simulator.endurance import RaceSpec, simulate
from tests.analysis.races import hand_race
from tests.documents.rendered import pages
from tests.factory import SessionWriter


def documents(events: list[Event]) -> dict[str, Document]:
    return {d.name: d for d in session_documents(list(enumerate(events, start=1)), events[0].session)}


def declared(w: SessionWriter, status: ResultsStatus) -> list[Event]:
    penalty = PenaltyIssued(
        number="3", decision="DOC-12", kind=PenaltyKind.TIME, time_ms=5_000, reason="unsafe release"
    )
    return [*hand_race(w), w.event(penalty, 700_000), w.event(ResultsDeclared(status=status), 800_000)]


def test_the_classification_overall_by_class_with_its_stamp_and_the_decisions_applied() -> None:
    w = SessionWriter()
    lines = [
        line for page in pages(documents(declared(w, ResultsStatus.PROVISIONAL))["classification.pdf"]) for line in page
    ]
    assert lines[0] == "Test race PROVISIONAL"
    rows = [line for line in lines if line[:2] in ("1 ", "2 ", "3 ")]
    assert rows[:3] == [
        "1 2 Pro 1 Team 2 B. One / B. Two GT3 6 0:10:03.500 1:39.200 2 0",
        "2 1 Pro 2 Team 1 A. One / A. Two GT3 6 0:10:28.500 +25.000 +25.000 1:39.000 5 1",
        "3 3 Am 1 Team 3 C. One / C. Two GT3 6 0:10:35.000* +31.500 +6.500 1:45.000 1 0",  # 630 s + 5 s
    ]
    assert lines.index("Class Am") < lines.index("Class Pro")
    assert "Fastest lap: #1 (Pro) A. Two 1:39.000 on lap 5" in lines
    decisions = lines[lines.index("Decisions applied") + 2 :]
    assert decisions[0] == "DOC-12 3 +5.000 s unsafe release"


def test_the_stamp_follows_the_declaration() -> None:
    w = SessionWriter()
    final = documents(declared(w, ResultsStatus.FINAL))["driving-time.pdf"]
    assert pages(final)[0][0] == "Test race OFFICIAL"
    w = SessionWriter()
    live = documents(hand_race(w))["driving-time.pdf"]
    assert pages(live)[0][0] == "Test race NOT DECLARED"


def test_best_sectors_fastest_laps_pit_stops_driving_time_and_lap_chart() -> None:
    w = SessionWriter()
    made = documents(declared(w, ResultsStatus.FINAL))
    sectors = pages(made["best-sectors.pdf"])[0]
    assert sectors[sectors.index("Sector 1") + 2 : sectors.index("Sector 1") + 4] == [
        "1 1 Pro Team 1 A. Two 32.900 5",
        "2 2 Pro Team 2 B. One 33.000 2 +0.100",
    ]
    fastest = pages(made["fastest-laps.pdf"])[0]
    overall = fastest[fastest.index("Overall") + 2 : fastest.index("Class Am")]
    assert overall == [
        "15:01:40 1:40.000 1 Pro A. One 1 1:40.000",
        "15:03:20 3:20.000 2 Pro B. One 2 1:39.200 -0.800",
        "15:08:49 8:49.000 1 Pro A. Two 5 1:39.000 -0.200",
    ]
    stops = pages(made["pit-stops.pdf"])[0]
    assert "1 Pro Team 1 1 3 5:01.000 5:40.000 39.000 A. One A. Two" in stops
    assert "#1: 1 stop(s) 0:39.000" in stops
    driving = pages(made["driving-time.pdf"])[0]
    assert "Per driver: minimum 0:05:00.000 and maximum 0:10:00.000." in driving
    assert "1 Pro A. Two unrated 1 3 0:04:48.500 48 % BELOW MINIMUM" in driving
    assert "1 Pro A. One unrated 1 3 0:05:01.000 51 % ok" in driving
    chart = pages(made["lap-chart.pdf"])[0]
    assert chart[chart.index("Lap 1 2 3") + 1 :][:6] == [
        "1 1 2 3",
        "2 2 1 3",
        "3 2 1 3",
        "4 2 3 1",
        "5 2 3 1",
        "6 2 1 3",
    ]
    assert "hourly.pdf" not in made  # ten minutes


def test_a_six_hour_race_has_its_classification_at_every_hour() -> None:
    events = simulate(RaceSpec(seed=6, cars=8, duration_ms=6 * 3_600_000))
    made = documents(events)
    lines = [line for page in pages(made["hourly.pdf"]) for line in page]
    hours = [line for line in lines if line.startswith("After ")]
    assert hours == ["After 1 hour", *[f"After {h} hours" for h in range(2, 7)]]
    started = next(e.at for e in events if isinstance(e.body, SessionStarted))
    at_three = fold_until(enumerate(events, start=1), at=started + 3 * 3_600_000)
    leader = next(iter(at_three.sessions.values())).classification().cars[0]
    after_three = lines[lines.index("After 3 hours") + 2]
    assert after_three.startswith(f"1 {leader.number} {leader.class_name} 1 {leader.team}")
    assert f" {leader.laps} " in after_three


def test_the_same_log_gives_the_same_bytes() -> None:
    w = SessionWriter()
    events = declared(w, ResultsStatus.FINAL)
    first, second = documents(events), documents(list(events))
    assert {name: d.data for name, d in first.items()} == {name: d.data for name, d in second.items()}
    assert [d.info.pages for d in first.values()] == [1, 1, 1, 1, 1, 1, None]


def test_text_outside_latin1_is_written_without_its_accents() -> None:
    assert latin("Nürburgring — Łukasz Ōta «24h»") == "Nürburgring - ?ukasz Ota «24h»"
