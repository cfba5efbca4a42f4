"""The season calendar: events and sessions in local time, "next event" and "live now", from the log."""
