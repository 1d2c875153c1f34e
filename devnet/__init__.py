"""A whole provernet market on one machine: local chain, nodes, reference models."""
