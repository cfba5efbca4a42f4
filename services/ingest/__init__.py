"""Ingest: validation rules (core), the request/reply service and the producer client."""
