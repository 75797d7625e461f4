"""The client's transport settings against a stand-in AgentService served by grpcio in this
process (the engram binary cannot be told to fail on cue): retries on UNAVAILABLE only, the
deadline, the x-api-key header. TLS is tested against the real binary: test_client_tls.py."""

import threading
import time
from concurrent import futures

import grpc
import pytest

from engram import (AsyncEngram, DeadlineExceededError, Engram, InvalidArgumentError, NotFoundError,
                    UnavailableError)
from engram.v1 import agents_pb2_grpc, common_pb2


class StandIn(agents_pb2_grpc.AgentServiceServicer):
    """GetAgent answers with the API key it received as the description. Names steer it:
    "flaky-N" is UNAVAILABLE for the first N calls, "bad" is INVALID_ARGUMENT, "slow" sleeps."""

    def __init__(self):
        self.calls = {}
        self.lock = threading.Lock()

    def GetAgent(self, request, context):
        name = request.name
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            n = self.calls[name]
        if name.startswith("flaky-") and n <= int(name.split("-")[1]):
            context.abort(grpc.StatusCode.UNAVAILABLE, "store not ready")
        if name == "bad":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: must not be bad")
        if name == "missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "agent not found: missing")
        if name == "slow":
            time.sleep(2)
        key = dict(context.invocation_metadata()).get("x-api-key", "")
        return common_pb2.Agent(id="agent_" + "a" * 24, name=name, description=key)


def serve():
    servicer = StandIn()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    agents_pb2_grpc.add_AgentServiceServicer_to_server(servicer, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    return srv, servicer, port


@pytest.fixture
def plain():
    srv, servicer, port = serve()
    yield f"127.0.0.1:{port}", servicer
    srv.stop(0)


def test_api_key_header_and_typed_errors(plain):
    addr, servicer = plain
    with Engram(addr, "ek_secret") as client:
        agent = client.get_agent("coder")
        assert (agent.name, agent.description) == ("coder", "ek_secret")
        with pytest.raises(NotFoundError):
            client.get_agent("missing")


def test_retries_on_unavailable_only(plain):
    addr, servicer = plain
    with Engram(addr, retries=3, backoff=0.01) as client:
        assert client.get_agent("flaky-2").name == "flaky-2"
        assert servicer.calls["flaky-2"] == 3  # two UNAVAILABLE, then the answer
        with pytest.raises(InvalidArgumentError) as e:
            client.get_agent("bad")
        assert servicer.calls["bad"] == 1 and e.value.field == "name"  # never retried
    with Engram(addr, retries=1, backoff=0.01) as client:
        with pytest.raises(UnavailableError, match="store not ready"):
            client.get_agent("flaky-5")
        assert servicer.calls["flaky-5"] == 2
    with Engram(addr, retries=0) as client:
        with pytest.raises(UnavailableError):
            client.get_agent("flaky-1")
        assert servicer.calls["flaky-1"] == 1


def test_async_retries_on_unavailable(plain):
    import asyncio
    addr, servicer = plain

    async def main():
        async with AsyncEngram(addr, retries=2, backoff=0.01) as client:
            assert (await client.get_agent("flaky-2")).name == "flaky-2"
            with pytest.raises(InvalidArgumentError):
                await client.get_agent("bad")
            with pytest.raises(DeadlineExceededError):
                await client.with_timeout(0.3).get_agent("slow")

    asyncio.run(main())
    assert (servicer.calls["flaky-2"], servicer.calls["bad"]) == (3, 1)


def test_deadline_on_every_call(plain):
    addr, servicer = plain
    with Engram(addr, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as e:
            client.get_agent("slow")
        assert time.monotonic() - started < 1.5
        assert isinstance(e.value, TimeoutError)
        assert client.with_timeout(5).get_agent("slow").name == "slow"
