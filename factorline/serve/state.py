"""What the routes share: one object on ``app.state.factorline``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .metrics import Metrics
from .pipelines import PipelineStore
from .settings import ServeSettings

if TYPE_CHECKING:
    from .runner import Runner
    from .uploads import PrivateDir


@dataclass
class ServerState:
    settings: ServeSettings
    store: PipelineStore
    runner: Runner
    metrics: Metrics
    token: str | None
    uploads: PrivateDir | None = None  # made at startup, removed at shutdown
    ready: bool = False
