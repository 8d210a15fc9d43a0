"""Where Sidekiq's figures come from: the snapshot model, the JSON shapes, and the sources."""

from .shapes import parse_stats
from .snapshot import Snapshot

__all__ = ["Snapshot", "parse_stats"]
