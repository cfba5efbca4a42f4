"""The AsyncAPI 3 document (served at ``/api/asyncapi.json``): the push feeds, and NATS for direct consumers.

Two audiences: graphics systems on the gateway's SSE and WebSocket feeds, and
consumers that read NATS themselves (the subjects of :mod:`schemas.subjects`,
the classification KV bucket). Component schemas come from the msgspec Structs.
"""

from __future__ import annotations

from typing import Any

from schemas.subjects import (
    CLASSIFICATION_BUCKET,
    DLQ_PREFIX,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    INGEST_PREFIX,
    REJECTS_PREFIX,
    REJECTS_STREAM,
    UNADDRESSED,
)
from services.gateway.components import API_VERSION, ref, schemas

SESSION_TOKENS = "{championship}.{event}.{session}"
SLUG = "a slug: [A-Za-z0-9_-]{1,64}"
SESSION_PARAMETERS = {
    "championship": {"description": f"championship token, {SLUG}"},
    "event": {"description": f"event (meeting) token, {SLUG}"},
    "session": {"description": f"session token, {SLUG}"},
}
KEY_PARAMETER = {"key": {"description": "session key `championship.event.session`"}}
FEED_QUERY = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "description": "a read token (or the Authorization: Bearer header)"},
        "since": {"type": "integer", "minimum": 0, "description": "resume after this sequence"},
    },
}

MESSAGES = {
    "snapshot": ("Snapshot", "The whole classification; replaces what the client held", "Snapshot"),
    "update": (
        "Update",
        "The next value of the classification, in stream order, as a delta from the value of base_seq (the "
        "previous message's seq): take head whole, replace or add the cars rows by number, drop the numbers in "
        "removed, order the rows by position. Applied whole, in order, it leaves exactly the value of seq.",
        "Update",
    ),
    "event": ("Timing event", "One timing event: the envelope and its tagged body", "Event"),
    "ingestReply": ("Ingest reply", "accepted {seq, duplicate} or rejected {code, reason}", "IngestReply"),
    "rejectedEvent": ("Rejected input", "Refused input, raw payload and reason", "RejectedEvent"),
    "deadLetter": ("Dead letter", "An event a projector could not fold, with the reason", "DeadLetter"),
    "classification": ("Classification", "The live classification of one session", "Classification"),
}


def _message(name: str) -> dict[str, Any]:
    title, summary, schema = MESSAGES[name]
    return {"name": name, "title": title, "summary": summary, "contentType": "application/json", "payload": ref(schema)}


def _messages(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/messages/{name}"} for name in names}


def _channel(
    address: str | None, servers: list[str], description: str, messages: tuple[str, ...], **extra: Any
) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "servers": [{"$ref": f"#/servers/{server}"} for server in servers],
        "messages": _messages(*messages),
        **extra,
    }


def _operation(action: str, channel: str, summary: str, messages: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
        **extra,
    }


NATS_SERVER = {
    "host": "{nats}",
    "protocol": "nats",
    "description": "NATS with JetStream, with a user and password per role (deploy/nats/accounts.conf). Its address "
    "is not published here: operations give it, with credentials, to the consumers that may read it.",
    "variables": {"nats": {"description": "host:port of your deployment's NATS server"}},
}


def asyncapi_document(gateway_host: str) -> dict[str, Any]:
    """The document for a gateway reachable at ``gateway_host``; public, so it names no broker address."""
    feed = ("snapshot", "update")
    brokers = ["nats"]
    channels = {
        "sessionStream": _channel(
            "/api/sessions/{key}/stream",
            ["gatewayHttp"],
            "Server-sent events: `event:` is the kind, `id:` the seq (a reconnecting browser sends it back as "
            "Last-Event-ID), `data:` the message. A snapshot first (and whenever a resume cannot be served from the "
            "buffer), then deltas, each applying to the value of the message before it.",
            feed,
            parameters=KEY_PARAMETER,
            bindings={"http": {"method": "GET", "query": FEED_QUERY}},
        ),
        "sessionSocket": _channel(
            "/ws/sessions/{key}",
            ["gatewayWs"],
            "WebSocket, one JSON text frame per message: a snapshot, then deltas as on the SSE feed. Read-only: "
            "what the client sends is ignored. Close codes: "
            "4401 bad token, 1008 malformed request, 1013 the client fell behind (reconnect with since), 1001 the "
            "gateway is stopping.",
            feed,
            parameters=KEY_PARAMETER,
            bindings={"ws": {"method": "GET", "query": FEED_QUERY}},
        ),
        "ingest": _channel(
            f"{INGEST_PREFIX}.{SESSION_TOKENS}",
            brokers,
            "Producers request here with one event; ingest validates and stores it.",
            ("event",),
            parameters=SESSION_PARAMETERS,
        ),
        "ingestReply": _channel(
            None, brokers, "The reply to an ingest request, on the requester's inbox.", ("ingestReply",)
        ),
        "events": _channel(
            f"{EVENTS_PREFIX}.{SESSION_TOKENS}",
            brokers,
            f"JetStream stream {EVENTS_STREAM}: the log, the source of truth; a message's stream sequence is the "
            "`seq` every read model and feed message refers to. `Nats-Msg-Id` is `producer:id`.",
            ("event",),
            parameters=SESSION_PARAMETERS,
        ),
        "rejects": _channel(
            f"{REJECTS_PREFIX}.{SESSION_TOKENS}",
            brokers,
            f"JetStream stream {REJECTS_STREAM}: input ingest refused, with the reason.",
            ("rejectedEvent",),
            parameters=SESSION_PARAMETERS,
        ),
        "rejectsUnaddressed": _channel(
            f"{REJECTS_PREFIX}.{UNADDRESSED}",
            brokers,
            f"JetStream stream {REJECTS_STREAM}: refused input whose subject names no session.",
            ("rejectedEvent",),
        ),
        "deadLetters": _channel(
            f"{DLQ_PREFIX}.{{projection}}",
            brokers,
            f"JetStream stream {REJECTS_STREAM}: events a projector could not fold (projection e.g. classification).",
            ("deadLetter",),
            parameters={"projection": {"description": "the projection that refused the event"}},
        ),
        "classificationBucket": _channel(
            f"$KV.{CLASSIFICATION_BUCKET}.{SESSION_TOKENS}",
            brokers,
            f"KV bucket {CLASSIFICATION_BUCKET}, key `championship.event.session`: the live classification, one "
            "whole value per write, `last_seq` inside. Read it with a KV get or watch (what this gateway does).",
            ("classification",),
            parameters=SESSION_PARAMETERS,
        ),
    }
    operations = {
        "streamSession": _operation("send", "sessionStream", "The gateway pushes a session over SSE", feed),
        "pushSession": _operation("send", "sessionSocket", "The gateway pushes a session over WebSocket", feed),
        "acceptEvent": _operation(
            "receive",
            "ingest",
            "Ingest takes one event and replies",
            ("event",),
            reply={"channel": {"$ref": "#/channels/ingestReply"}},
        ),
        "logEvent": _operation("send", "events", "An accepted event is stored in the log", ("event",)),
        "rejectEvent": _operation("send", "rejects", "Refused input is kept with its reason", ("rejectedEvent",)),
        "rejectUnaddressed": _operation(
            "send", "rejectsUnaddressed", "Refused input naming no session", ("rejectedEvent",)
        ),
        "deadLetter": _operation("send", "deadLetters", "A projector dead-letters an event", ("deadLetter",)),
        "writeClassification": _operation(
            "send", "classificationBucket", "The projector writes a session's classification", ("classification",)
        ),
    }
    read_token = [{"$ref": "#/components/securitySchemes/bearer"}, {"$ref": "#/components/securitySchemes/token"}]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "chequered live timing",
            "version": API_VERSION,
            "description": "Push feeds of the chequered gateway (read-only, token required), and the NATS "
            "subjects and KV bucket for consumers that read the broker directly.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "gatewayHttp": {"host": gateway_host, "protocol": "http", "security": read_token},
            "gatewayWs": {"host": gateway_host, "protocol": "ws", "security": read_token},
            "nats": NATS_SERVER,
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas(),
            "messages": {name: _message(name) for name in MESSAGES},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a read token"},
                "token": {"type": "httpApiKey", "in": "query", "name": "token", "description": "a read token"},
            },
        },
    }
