"""One module per command group: short adapters from flags to client calls to output."""
