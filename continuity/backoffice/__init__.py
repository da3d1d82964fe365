"""Back-office simulators: the city's downstream systems, for demos, tests and
the drill. Each is a real aiohttp service on loopback with its own SQLite
store; each deduplicates on the idempotency key and can be told to fail."""
