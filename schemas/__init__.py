"""The contract of chequered: msgspec Structs for events and read models.

This package imports nothing from ``services``; everyone else imports it.
"""
