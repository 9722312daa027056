"""Application entry points above the CLI: the `mlplat` console script (`entry`), `make demo` (`demo`) and
`make bench` (`bench`)."""
