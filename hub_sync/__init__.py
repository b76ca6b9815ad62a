"""MQTT protocol, client, outbox/inbox sync with the hub, and the reference hub."""
