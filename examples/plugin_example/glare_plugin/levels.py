"""The ``glare_levels`` resource: grey levels read from a JSON file shipped with the package.

Registered by the ``factorline.resources`` entry point (name = loader). The file is also
declared with ``files=``, so replacing it changes the cache key of every operator using it.
"""

from __future__ import annotations

import json
from pathlib import Path

from factorline.sdk import resource

LEVELS = Path(__file__).with_name("levels.json")


@resource("glare_levels", version="1", files=[str(LEVELS)], description="grey levels that count as glare")
def load_levels() -> dict[str, int]:
    """Grey levels that count as glare."""
    return {k: int(v) for k, v in json.loads(LEVELS.read_text(encoding="utf-8")).items()}
