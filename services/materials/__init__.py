"""Materials: the EU-wide raw-material catalogue, facility inventory, reservations and shortages."""
