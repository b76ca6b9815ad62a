"""The integration rig's fixtures (real Mosquitto, real agent, fleet) for the reliability tests."""

from tests.integration.conftest import broker, fleet, hub_agent, idle_broker

__all__ = ["broker", "fleet", "hub_agent", "idle_broker"]
