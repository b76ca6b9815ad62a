"""The offline-first pickup agent: domain, store, services, web API, composition root."""
