"""The provernet daemon: ``run_node`` wires the store, chain, p2p, engine and API together.

See run.py for the start-up order and shutdown, resources.py for what is opened
before the services start, routes.py for the daemon's API routes, and node.engine
for the market engine and how roles plug into it.
"""

from node.daemon.resources import DaemonError, Web3TxLookup, daemon_logging
from node.daemon.run import NodeInfo, Services, run_node

__all__ = ["DaemonError", "NodeInfo", "Services", "Web3TxLookup", "daemon_logging", "run_node"]
