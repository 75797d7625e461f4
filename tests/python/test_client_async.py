"""AsyncEngram (grpc.aio) against the real binary: the same calls, awaited."""

import asyncio
import datetime as dt

import pytest

from engram import (AlreadyExistsError, AsyncEngram, AuthenticationError, ConflictError, InvalidArgumentError,
                    NotFoundError, UnavailableError)


def run(coro):
    return asyncio.run(coro)


def test_async_memories_context_and_errors(server, name):
    async def main():
        async with AsyncEngram(server.addr, server.admin_key) as eg:
            s = await eg.create_session(name, {"task": "crawl"})
            m = await eg.remember(name, "Crawled https://example.com/products - found 15 listings",
                                  session_id=s.id, tags=["crawling"], metadata={"product_count": 15}, importance=0.6)
            d = await eg.decide(name, "Prices follow a weekly cycle", "50 products over 2 weeks")
            assert (m.metadata, d.reasoning) == ({"product_count": 15}, "50 products over 2 weeks")
            assert [x.id for x in await eg.recall(name, since="1h")] == [d.id, m.id]
            found = await eg.search(name, tags=["crawling"], content_contains="example.com/products")
            assert [x.id for x in found] == [m.id]
            ctx = await eg.context(name, max_tokens=400, include_types=["episodic", "decision"])
            assert set(ctx.memory_ids) == {m.id, d.id} and "Prices follow a weekly cycle" in ctx.context
            assert (await eg.get_agent(name)).name == name
            assert [x.id async for x in eg.iter_memories(name, limit=1)] == [d.id, m.id]
            assert s.id in {x.id for x in await eg.list_sessions(name)}
            assert (await eg.close_session(s.id)).status == "closed"

            with pytest.raises(AlreadyExistsError) as e:
                await eg.remember(name, "Crawled https://example.com/products - found 15 listings")
            assert e.value.existing_id == m.id
            with pytest.raises(InvalidArgumentError) as e:
                await eg.remember(name, "x", tags=["has space"])
            assert e.value.field == "memory.tags[0]"
            with pytest.raises(NotFoundError):
                await eg.get_memory("mem_01JZZZZZZZZZZZZZZZZZZZZZZZ")

            wm = await eg.working_memory.set(s.id, {"task": "crawl"}, 0)
            with pytest.raises(ConflictError):
                await eg.working_memory.patch(s.id, {"task": "other"}, 0)
            assert (await eg.working_memory.get(s.id)).version == wm.version == 1

            out = await eg.conversations.append(name, "chat", [("user", "hi"), ("assistant", "hello")])
            assert [x.seq for x in out] == [1, 2]
            assert [x.content for x in await eg.conversations.window(name, "chat")] == ["hi", "hello"]
        with pytest.raises(ValueError, match="closed"):
            await eg.recall(name)
        with pytest.raises(AuthenticationError):
            async with AsyncEngram(server.addr, "nope") as bad:
                await bad.recall(name)

    run(main())


def test_async_simulation_and_watch(server, name):
    async def main():
        async with AsyncEngram(server.addr, server.admin_key) as eg:
            watch = eg.watch(name, types=["state"])

            async def first_event():
                async for event in watch:
                    return event

            waiter = asyncio.create_task(first_event())
            await asyncio.sleep(0.3)
            for step, health in [(1, 1.0), (2, 0.9), (3, 0.7)]:
                r = await eg.store_agent_state(name, {"health": health, "mood": "calm"}, step)
                assert r.created
            event = await asyncio.wait_for(waiter, 10)
            watch.cancel()
            assert event.memory.step == 1 and event.memory.metadata == {"health": 1, "mood": "calm"}
            await eg.store_agent_action(name, {"action_type": "rest", "outcome": "success"}, 2)
            steps = await eg.retrieve_by_time_range(name, 1, 3)
            assert [m.step for m in steps] == [1, 2, 2, 3]
            assert [m.step for m in await eg.retrieve_by_attributes(name, {"action_type": "rest"})] == [2]
            similar = await eg.retrieve_similar_states(name, {"health": 0.9, "mood": "calm"}, k=1)
            assert [s.memory.step for s in similar] == [2]
            changes = await eg.get_state_changes(name)
            assert [(c.to_step, sorted(c.changes)) for c in changes] == [(2, ["health"]), (3, ["health"])]
            stats = await eg.get_memory_statistics(name)
            assert (stats.total, stats.by_type) == (4, {"state": 3, "action": 1})
            report = await eg.force_memory_maintenance(name, dry_run=True)
            assert report.dry_run and report.scanned == 4
            view = eg.with_timeout(2)
            assert view.timeout == 2 and len(await view.recall(name)) == 4
            await view.close()  # a view does not close the client's channel
            assert len(await eg.recall(name, since=dt.timedelta(hours=1))) == 4

    run(main())


def test_async_client_built_outside_a_loop(server, name, monkeypatch):
    monkeypatch.setenv("ENGRAM_ADDR", server.addr)
    monkeypatch.setenv("ENGRAM_API_KEY", server.admin_key)
    eg = AsyncEngram()  # no running loop yet: the channel is made at the first call

    async def main():
        try:
            return await eg.remember(name, "from the environment")
        finally:
            await eg.close()

    assert run(main()).content == "from the environment"

    async def unreachable():
        async with AsyncEngram("127.0.0.1:1", retries=1, backoff=0.05) as down:
            await down.recall(name)

    with pytest.raises(UnavailableError):
        run(unreachable())
