"""Connection, stream/KV topology and the embedded nats-server."""
