"""The MQTT contract shared by device and hub: wire types, hub commands, signing, refusal
reasons.
"""
