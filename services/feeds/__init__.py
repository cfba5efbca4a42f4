"""Timing-feed adapters: pure cores that turn a vendor's feed into chequered events.

Each adapter is a parser (bytes or lines in, typed records out) and a mapper
(records in, :class:`schemas.events.Event` out). No sockets, no clock, no
asyncio: the network client and the replay tool are thin shells around them.
"""
