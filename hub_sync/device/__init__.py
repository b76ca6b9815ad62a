"""The device side of the sync: outbox publishing, hub commands, the ports the agent implements."""
