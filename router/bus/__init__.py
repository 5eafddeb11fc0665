"""The message bus: its protocol, topic names, an in-memory bus, the MQTT adapter, a private Mosquitto."""
