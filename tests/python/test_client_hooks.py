"""Memory hooks (engram.hooks) against the real binary: each act() stored as the states before
and after it, the action with its result and the state difference, by step; a memory failure never
breaks the agent."""

import asyncio
import logging

import pytest

from engram import AsyncEngram, Engram, install_memory_hooks, memory_hooks, state_diff, with_memory


@pytest.fixture
def eg(server):
    with Engram(server.addr, server.admin_key) as client:
        yield client


def by_step(eg, agent):
    """{step: {"before": state, "action": action memory, "after": state}} of what the hooks stored."""
    out = {}
    for m in eg.retrieve_by_time_range(agent, 0, 10**9):
        kind = {"hook:before": "before", "hook:after": "after", "hook:action": "action"}[m.tags[0]]
        out.setdefault(m.step, {})[kind] = m
    return out


def test_class_decorator_records_states_actions_and_diffs(eg, name):
    @memory_hooks(eg, agent_id=name)
    class Forager:
        def __init__(self):
            self.position = [0, 0]
            self.wood = 0

        def get_state(self):
            return {"position": list(self.position), "wood": self.wood}

        def act(self, observation):
            if observation.get("tree"):
                self.wood += 1
                return {"action_type": "gather", "gained": 1}
            self.position[0] += 1
            return "moved east"

    agent = Forager()
    assert agent.act({"tree": True}) == {"action_type": "gather", "gained": 1}
    assert agent.act({"tree": False}) == "moved east"
    assert agent.act({"tree": True})["gained"] == 1
    assert (agent.wood, agent.position) == (2, [1, 0])

    steps = by_step(eg, name)
    assert sorted(steps) == [1, 2, 3]
    assert all(set(steps[s]) == {"before", "action", "after"} for s in steps)
    assert steps[1]["before"].metadata == {"position": [0, 0], "wood": 0}
    assert steps[1]["after"].metadata == {"position": [0, 0], "wood": 1}
    assert steps[1]["before"].memory_type == "state" and steps[1]["action"].memory_type == "action"
    first = steps[1]["action"].metadata
    assert first["action_type"] == "gather" and first["outcome"] == "success"
    assert first["args"] == [{"tree": True}] and first["result"] == {"action_type": "gather", "gained": 1}
    assert first["state_diff"] == {"wood": {"before": 0, "after": 1}}
    second = steps[2]["action"].metadata
    assert second["action_type"] == "act" and second["result"] == "moved east"
    assert second["state_diff"] == {"position": {"before": [0, 0], "after": [1, 0]}}
    assert steps[3]["after"].metadata == {"position": [1, 0], "wood": 2}
    # The server's state-change tracking sees the same agent history.
    changes = eg.get_state_changes(name)
    assert any("wood" in c.changes for c in changes) and any("position" in c.changes for c in changes)
    # The action is searchable by its attributes.
    assert [m.step for m in eg.retrieve_by_attributes(name, {"action_type": "gather"})] == [3, 1]

    # A second instance of the same agent continues after the newest stored step.
    again = Forager()
    again.act({"tree": False})
    assert max(by_step(eg, name)) == 4


def test_decorator_with_state_function_and_agent_of_instance(eg, name):
    @memory_hooks(lambda: eg, agent_id=lambda self: f"{name}-{self.n}", state=lambda self: {"n": self.n, "t": self.t})
    class Counter:
        def __init__(self, n):
            self.n, self.t = n, 0

        def act(self):
            self.t += self.n

    a, b = Counter(1), Counter(2)
    a.act(), b.act(), b.act()
    assert sorted(by_step(eg, f"{name}-1")) == [1]
    two = by_step(eg, f"{name}-2")
    assert sorted(two) == [1, 2] and two[2]["after"].metadata == {"n": 2, "t": 4}
    assert two[2]["action"].metadata["state_diff"] == {"t": {"before": 2, "after": 4}}


def test_bare_decorator_uses_the_environment(server, eg, name, monkeypatch):
    monkeypatch.setenv("ENGRAM_ADDR", server.addr)
    monkeypatch.setenv("ENGRAM_API_KEY", server.admin_key)

    @install_memory_hooks
    class Agent:
        def __init__(self):
            self.agent_id = name
            self.mood = "calm"
            self._private = "not part of the state"

        def act(self, observation):
            self.mood = observation
            return self.mood

    Agent().act("curious")
    steps = by_step(eg, name)
    assert steps[1]["before"].metadata == {"agent_id": name, "mood": "calm"}
    assert steps[1]["after"].metadata == {"agent_id": name, "mood": "curious"}


def test_with_memory_wraps_an_existing_agent(eg, name):
    class ExistingAgent:
        def __init__(self):
            self.answers = 0

        def get_state(self):
            return {"answers": self.answers}

        def act(self, observation):
            if observation.get("user_input") == "fail":
                raise RuntimeError("cannot answer")
            self.answers += 1
            return f"answer to {observation['user_input']}"

        def helper(self):
            return "untouched"

    agent = ExistingAgent()
    memory_agent = with_memory(agent, eg, agent_id=name)
    assert memory_agent.act({"user_input": "What's the weather today?"}) == "answer to What's the weather today?"
    with pytest.raises(RuntimeError, match="cannot answer"):  # the agent's own error goes on
        memory_agent.act({"user_input": "fail"})
    assert memory_agent.helper() == "untouched" and memory_agent.answers == 1
    memory_agent.answers = 10  # attributes are the agent's
    assert agent.answers == 10 and "act" not in vars(agent) and ExistingAgent.act.__name__ == "act"

    steps = by_step(eg, name)
    assert steps[1]["action"].metadata["state_diff"] == {"answers": {"before": 0, "after": 1}}
    failed = steps[2]["action"].metadata
    assert failed["outcome"] == "error" and failed["error"] == "RuntimeError: cannot answer"
    assert "result" not in failed and failed["state_diff"] == {}
    # The unwrapped agent records nothing.
    agent.act({"user_input": "quiet"})
    assert sorted(by_step(eg, name)) == [1, 2]


def test_a_broken_memory_never_breaks_the_agent(eg, name, caplog):
    class Agent:
        def __init__(self):
            self.steps = 0

        def act(self):
            self.steps += 1
            return self.steps

    down = Engram("127.0.0.1:1", retries=0, timeout=2)
    wrapped = with_memory(Agent(), down, agent_id=name)
    with caplog.at_level(logging.WARNING, logger="engram.hooks"):
        assert [wrapped.act(), wrapped.act()] == [1, 2]
    assert any(r.name == "engram.hooks" and "could not record step" in r.getMessage() for r in caplog.records)

    class BadState(Agent):
        def get_state(self):
            raise KeyError("no state today")

    caplog.clear()
    bad = with_memory(BadState(), eg, agent_id=name)
    with caplog.at_level(logging.WARNING, logger="engram.hooks"):
        assert bad.act() == 1
    assert any("could not capture the state" in r.getMessage() for r in caplog.records)
    # The action is still stored; the states it could not read are not.
    assert set(by_step(eg, name)[1]) == {"action"}

    # Something the server rejects (a state over the 16 KiB metadata limit) is logged too.
    huge = with_memory(Agent(), eg, agent_id=f"{name}-huge", state=lambda a: {"blob": "x" * 20000})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="engram.hooks"):
        assert huge.act() == 1
    assert any("INVALID_ARGUMENT" in r.getMessage() for r in caplog.records)


def test_async_agent_with_the_async_client(server, name):
    class AsyncAgent:
        def __init__(self):
            self.energy = 3

        def get_state(self):
            return {"energy": self.energy}

        async def act(self, effort):
            await asyncio.sleep(0)
            self.energy -= effort
            return {"action_type": "work", "effort": effort}

    async def main():
        async with AsyncEngram(server.addr, server.admin_key) as aeg:
            agent = with_memory(AsyncAgent(), aeg, agent_id=name)
            assert await agent.act(1) == {"action_type": "work", "effort": 1}
            await agent.act(2)

    asyncio.run(main())
    with Engram(server.addr, server.admin_key) as eg:
        steps = by_step(eg, name)
    assert sorted(steps) == [1, 2]
    assert steps[2]["action"].metadata["state_diff"] == {"energy": {"before": 2, "after": 0}}


def test_state_diff():
    assert state_diff({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "d": 4}) == {
        "b": {"before": 2, "after": 5}, "c": {"before": 3}, "d": {"after": 4}}
    assert state_diff(None, {"a": 1}) == {"a": {"after": 1}}
