"""One module per workflow node."""
