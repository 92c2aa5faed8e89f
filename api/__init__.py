"""The composition root: HTTP API, CLI and client SDK."""
