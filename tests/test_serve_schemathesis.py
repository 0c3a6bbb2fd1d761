"""Schemathesis against the live server's OpenAPI schema: generated requests, valid and invalid,
for every operation, must never get a 5xx. Bounded: a few examples per operation (< 60 s)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from test_serve_support import IMAGE_AUDIT, LiveServer, jpeg

EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("st-data")
    (root / "a.jpg").write_bytes(jpeg(size=(64, 48)))
    with LiveServer([IMAGE_AUDIT], data_root=root, pipelines_dir=tmp_path_factory.mktemp("st-pipes"), request_timeout_s=30) as server:
        yield server


def _operations(live):
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    # Pin the pipeline name to the served one half of the time; random names only test 404s.
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_errors_on_generated_requests(live):
    server_errors: list[str] = []
    operations = _operations(live)
    assert len(operations) >= 11
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            fixed = {"name": "image_audit"} if "{name}" in operation.path and mode == GenerationMode.POSITIVE else None

            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
            def check(case):
                response = case.call(base_url=live.url, timeout=30)
                if response.status_code >= 500:
                    server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

            try:
                check()
            except Unsatisfiable:  # nothing invalid to send (an operation without inputs)
                assert mode == GenerationMode.NEGATIVE
    assert not server_errors, "\n".join(server_errors[:10])
    assert live.client.get("/ready").json()["queue"]["depth"] == 0
    assert list(live.state.uploads.path.iterdir()) == []
