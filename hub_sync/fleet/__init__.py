"""The fleet hub: hub workers on a NATS JetStream cluster (devices speak MQTT) and PostgreSQL.

Lives here, not in `hub_sync/hub/`, because the module `hub_sync/hub.py` (the reference hub)
takes that name until the architecture split. See docs/hub.md.
"""
