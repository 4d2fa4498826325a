"""Development tools, never in the image: the embedded stack (`devtools.stack`: PostgreSQL, the
Tansu broker, the supervisor) and the `gmp-hub` commands that use it: `up`, `seed`, `token`
(`devtools.cli`). `shared/cli.py` adds those commands when this package is importable, as in a
checkout; the embedded servers' wheels are the project's `dev` extra."""
