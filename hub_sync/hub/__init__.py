"""The hubs. This package is the fleet hub: hub workers on a NATS JetStream cluster (devices speak
MQTT) and PostgreSQL (docs/hub.md); `reference/` is the single-process reference hub.
"""
