"""Read models built by replaying the log."""
