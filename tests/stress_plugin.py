"""A plugin operator that misbehaves on purpose: it sleeps, holds memory or crashes its process
on chosen items, so the batch engine's hard limits can be tested with real worker processes.
Loaded in workers through FACTORLINE_PLUGINS=stress_plugin (tests/ on PYTHONPATH)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from factorline.contract.operator import Field as Out
from factorline.contract.operator import operator


class StressParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: str = Field("", title="On", description="File name the misbehaviour applies to ('' = none).")
    sleep_s: float = Field(0.0, ge=0, title="Sleep", description="Seconds to block on that item.")
    crash: bool = Field(False, title="Crash", description="SIGSEGV the worker on that item.")


@operator(name="stress", version=1, title="Stress", group="test", params=StressParams,
          fields={"done": Out("bool", "whether the item got through")})
def stress(inputs, params: StressParams, *, item, resources) -> dict:
    """Blocks or crashes on the chosen item; passes every other item."""
    if params.on and Path(item.path).name == params.on:
        if params.crash:
            os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(params.sleep_s)
    return {"done": True, "evidence": []}
