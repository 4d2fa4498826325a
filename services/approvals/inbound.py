"""Approvals' own models of other services' events: none; it follows no one yet. A model added
here names the producer's type and only the fields it reads (see shared.events.InboundEvent);
tests/unit/test_contracts.py checks it against the producer."""
