"""Connectors to the tools a site already runs: an MQTT subscriber feeding the twin
(:mod:`twin.connectors.mqtt`), a Prometheus exporter (:mod:`twin.connectors.metrics`) and the
ingestion counters they share (:mod:`twin.connectors.counters`)."""
