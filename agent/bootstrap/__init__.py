"""The one composition root: builds the store, the drivers, the services, the MQTT client and the
web app, and starts and stops them in order.
"""
