"""Demo data for a development hub, made through the services' public APIs like any client."""
