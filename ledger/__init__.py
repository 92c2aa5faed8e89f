"""Generic signed, logged, append-only store; knows nothing about trials."""
