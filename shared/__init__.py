"""Mechanism the four services share: settings, database, events, outbox, consumer, auth, errors."""
