"""The broadcast gateway: read-only REST, SSE and WebSocket over the live classification, and a timing page.

It only reads: the KV bucket of classifications (watched by :mod:`services.gateway.hub`) and, for
time travel, the event stream. Nothing can be written through it.
"""
