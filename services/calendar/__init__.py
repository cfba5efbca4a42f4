"""The season calendar: events and sessions in local time, "next event" and "live now", from the log.

Pure cores:

- ``local``: IANA zones (zoneinfo + tzdata), local times checked against daylight saving, localized words (Babel);
- ``schedule``: the calendar fold (``apply``: one calendar event, refused with the reason when it cannot apply;
  ingest and the projector both use it) and ``changes_to``, the events that take a calendar to a file's;
- ``fold``: the read model folded from the whole log, with what each scheduled session's timing events say;
- ``views``: the calendar at an instant, in a zone and a language: the season, the next event, live now, alerts;
- ``files``, ``ics``: TOML, YAML and iCalendar in; iCalendar out. ``examples/`` ships two calendars.

Shells: ``store`` (reading calendars from KV), ``render`` (the terminal).
"""
