"""The settings cache: workspace snapshots, loaded once, replaced on change."""

from __future__ import annotations

import logging
from collections.abc import Callable

from webapp.realtime.rules import WorkspaceSnapshot

logger = logging.getLogger(__name__)

LoadByHash = Callable[[str], WorkspaceSnapshot | None]
LoadById = Callable[[int], WorkspaceSnapshot | None]


class SettingsCache:
    """Workspace snapshots by id and by connection hash.

    The loaders read the database; they run when a client connects to a
    workspace not cached yet and when the workspace's settings change, never
    for a frame. Loader exceptions propagate to the caller.
    """

    def __init__(self, load_by_hash: LoadByHash, load_by_id: LoadById) -> None:
        self._load_by_hash = load_by_hash
        self._load_by_id = load_by_id
        self._by_id: dict[int, WorkspaceSnapshot] = {}
        self._by_hash: dict[str, int] = {}

    def get(self, workspace_id: int) -> WorkspaceSnapshot | None:
        """Return the cached snapshot of a workspace, without loading it."""
        return self._by_id.get(workspace_id)

    def for_hash(self, connection_hash: str) -> WorkspaceSnapshot | None:
        """Return the snapshot of the workspace a connection hash names."""
        workspace_id = self._by_hash.get(connection_hash)
        if workspace_id is not None:
            return self._by_id[workspace_id]
        snapshot = self._load_by_hash(connection_hash)
        if snapshot is not None and snapshot.connection_hash == connection_hash:
            self._store(snapshot)
            return snapshot
        return None

    def for_id(self, workspace_id: int) -> WorkspaceSnapshot | None:
        """Return the snapshot of a workspace, loading it when not cached."""
        snapshot = self._by_id.get(workspace_id)
        if snapshot is None:
            snapshot = self.refresh(workspace_id)
        return snapshot

    def refresh(self, workspace_id: int) -> WorkspaceSnapshot | None:
        """Load a workspace's snapshot again; None (and forgotten) when deleted."""
        snapshot = self._load_by_id(workspace_id)
        self.forget(workspace_id)
        if snapshot is not None:
            self._store(snapshot)
        return snapshot

    def remember(self, snapshot: WorkspaceSnapshot) -> None:
        """Cache ``snapshot`` unless its workspace has one cached already."""
        if snapshot.id not in self._by_id:
            self._store(snapshot)

    def forget(self, workspace_id: int) -> None:
        """Drop a workspace's snapshot from the cache."""
        old = self._by_id.pop(workspace_id, None)
        if old is not None and self._by_hash.get(old.connection_hash) == workspace_id:
            del self._by_hash[old.connection_hash]

    def _store(self, snapshot: WorkspaceSnapshot) -> None:
        self.forget(snapshot.id)
        self._by_id[snapshot.id] = snapshot
        self._by_hash[snapshot.connection_hash] = snapshot.id
        logger.debug("settings of workspace %s cached", snapshot.id)
