"""MQTT protocol, client, outbox/inbox sync with the hub, and the reference hub.

A leaf package: it imports nothing from `agent`, `hardware` or `provisioning`. The agent wires
`hub_sync.device.sync.DeviceSync` with its own implementations of the ports in
`hub_sync.device.ports`; the protocol is documented in docs/protocol.md.
"""
