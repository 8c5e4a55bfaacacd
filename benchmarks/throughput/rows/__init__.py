"""One module per row of the throughput benchmark."""
