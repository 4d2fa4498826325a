"""Registry: GMP facilities, their suites and capabilities, authorisations and GMP certificates."""
