"""Application entry points above the CLI: `make demo` (`demo`) and `make bench` (`bench`)."""
