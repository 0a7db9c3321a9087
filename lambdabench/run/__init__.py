"""The run wing: plan, nodes, phases, ingest, sweep, recovery (nothing here imports lab, cli, sim or os.environ)."""
