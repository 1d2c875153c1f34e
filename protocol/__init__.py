"""provernet's pure library: cryptography, circuits, messages and market rules, with no I/O."""
