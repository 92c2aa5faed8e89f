"""Use cases called alike by HTTP, the CLI and the demo: wiring, set-up, accounts and tokens,
roles and site scoping, blinding, the randomiser and its vault, settings, the views runner."""
