"""What both sides use to talk and keep state: the asyncio MQTT adapter, broker settings, a locked
SQLite file.
"""
