"""The trial, pure: protocol rules, payload schemas and deciders; no I/O, no clock."""
