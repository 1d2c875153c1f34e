"""The model host role: register models, announce and serve their artifacts, fetch others'.

``role`` is the role itself (``ModelRole``): the ``model.*`` commands, model
announcements in and out, the registry's events, and ``ensure_model`` for the other
roles (a circuit fetched from the peers that announced it, checked against the
registry). ``files`` holds the circuit directories on disk, ``records`` the store's
view of models and the announcement checks.
"""

from node.engine.models.role import AnnouncementMismatch, ModelNetwork, ModelRole, ModelUnavailable

__all__ = ["AnnouncementMismatch", "ModelNetwork", "ModelRole", "ModelUnavailable"]
