"""Timing-feed adapters: pure cores that turn a vendor's feed into chequered events, and their shells.

Each adapter is a parser (bytes or lines in, typed records out) and a mapper
(records in, :class:`schemas.events.Event` out), with no sockets, clock or
asyncio. The shells around them are ``rmonitor/client.py`` (the live TCP feed
and the capture player) and ``ingestor.py`` (mapped events through ingest).
"""
