"""The `trial-ledger` command line (Typer): one module per group of commands, registered in
api/cli/main.py."""
