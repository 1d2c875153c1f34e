"""provernet's daemon, CLI and every piece of I/O: sockets, files, processes, RPC."""
