"""/metrics of the real binary, scraped over HTTP and parsed by the Prometheus project's own
text parser (prometheus-client): request metrics per method and code for gRPC and REST, the
store's, the caches' and the tiers', without tenant data in any label."""

import json
import urllib.error
import urllib.request

import pytest
from engram import Engram, InvalidArgumentError
from prometheus_client.parser import text_string_to_metric_families

from conftest import EngramServer


@pytest.fixture(scope="module")
def own_server():
    s = EngramServer()
    yield s
    s.stop()


def scrape(server):
    # No API key: /metrics is open, like /health.
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return {family.name: family for family in text_string_to_metric_families(response.read().decode())}


def count(families, method, code):
    family = families.get("engram_request_duration_seconds")
    if family is None:
        return 0
    for sample in family.samples:
        if sample.name.endswith("_count") and sample.labels.get("method") == method and sample.labels.get("code") == code:
            return sample.value
    return 0


def rest_post(server, path, body):
    request = urllib.request.Request(
        f"{server.url}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "x-api-key": server.admin_key},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_metrics_count_calls_per_method_and_code_without_tenant_data(own_server):
    before = scrape(own_server)
    grpc_ok = "engram.v1.MemoryService/AddMemory"
    rest_ok = "POST /api/v1/memories"
    with Engram(own_server.addr, own_server.admin_key) as engram:
        engram.remember("metrics-agent-7f3", "Deployed the metrics release")
        engram.remember("metrics-agent-7f3", "Rolled back the metrics release")
        with pytest.raises(InvalidArgumentError):
            engram.remember("metrics-agent-7f3", "")
    assert rest_post(own_server, "/api/v1/memories", {"agent_id": "metrics-agent-7f3", "content": "over REST"}) == 201
    assert rest_post(own_server, "/api/v1/memories", {"agent_id": "metrics-agent-7f3"}) == 400

    after = scrape(own_server)
    assert count(after, grpc_ok, "OK") - count(before, grpc_ok, "OK") == 2
    assert count(after, grpc_ok, "INVALID_ARGUMENT") - count(before, grpc_ok, "INVALID_ARGUMENT") == 1
    assert count(after, rest_ok, "201") - count(before, rest_ok, "201") == 1
    assert count(after, rest_ok, "400") - count(before, rest_ok, "400") == 1

    requests = after["engram_request_duration_seconds"]
    assert requests.type == "histogram"
    buckets = [s for s in requests.samples
               if s.name.endswith("_bucket") and s.labels.get("method") == grpc_ok and s.labels.get("code") == "OK"]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value >= 2

    # The store's metrics, the writer's queue, the caches and the tiers.
    assert after["engram_store_commit_jobs"].type == "histogram"
    assert sum(s.value for s in after["engram_store_commit_jobs"].samples if s.name.endswith("_count")) >= 3
    assert after["engram_store_commit_duration_seconds"].type == "histogram"
    assert after["engram_store_read_duration_seconds"].type == "histogram"
    assert after["engram_store_writer_queue"].type == "gauge"
    assert after["engram_cache_hits"].type == "counter"
    assert {s.labels["cache"] for s in after["engram_cache_hits"].samples} >= {"window", "hot"}
    assert {s.labels["tier"] for s in after["engram_memories"].samples} == {"hot", "warm", "cold"}
    assert after["engram_embedding_queue"].type == "gauge"
    assert after["engram_requests_active"].type == "gauge"

    # No tenant data: no org label, and neither the agent's name nor an id in any label.
    for family in after.values():
        for sample in family.samples:
            assert "org" not in sample.labels, sample
            for value in sample.labels.values():
                assert "metrics-agent-7f3" not in value and "org_default" not in value, sample


def test_unknown_paths_and_methods_do_not_make_new_series(own_server):
    # Outside /api/v1 a path is taken for gRPC (415 without a gRPC content type); inside, 404.
    for path, code in [("/no/such/path/1", 415), ("/no/such/path/2", 415), ("/api/v1/nope/1", 404), ("/api/v1/nope/2", 404)]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{own_server.url}{path}", timeout=10)
        assert refused.value.code == code
    families = scrape(own_server)
    methods = {s.labels.get("method") for s in families["engram_request_duration_seconds"].samples}
    assert not any(m and ("/no/such/path" in m or "/nope/" in m) for m in methods), methods
