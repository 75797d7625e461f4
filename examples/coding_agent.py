"""A coding agent that refactors a module over several sessions with Engram as its memory.

It registers itself, opens a session for the task, records what it analysed, changed, broke and
fixed, logs a decision with its reasoning, asks "did I already refactor this file?" before
touching a file, and builds the context for its next prompt after a (pretend) restart.

Run it against a local server:

    make run                                                          # one terminal
    ENGRAM_API_KEY=$(cat data/admin.key) python examples/coding_agent.py    # another

ENGRAM_ADDR (default 127.0.0.1:9100) and ENGRAM_API_KEY are read by Engram().
"""

import uuid

from engram import Engram


def already_refactored(engram, agent, session_id, filename):
    """The "did I already do this?" check: a completed-tagged memory of this session naming the file."""
    done = engram.search(agent, session_id=session_id, tags=["completed"], content_contains=filename)
    return len(done) > 0


def main():
    with Engram() as engram:
        agent = engram.register_agent(f"refactor-agent-{uuid.uuid4().hex[:8]}",
                                      description="Moves the auth module to the v2 architecture")
        session = engram.create_session(agent.id, {"task": "refactor_auth_module", "target_version": "v2"})
        print(f"agent {agent.name} ({agent.id}), session {session.id}")

        # Progress: what was analysed and what was changed.
        engram.remember(agent.id, "Analyzed auth.go - needs migration to the jwt-v2 library",
                        session_id=session.id, tags=["analysis", "auth"], importance=0.8)
        engram.decide(agent.id, "Use the jwt-v2 library instead of jwt-v1",
                      "jwt-v2 is maintained and validates the token algorithm",
                      session_id=session.id, importance=0.9)
        engram.remember(agent.id, "Refactored auth.go to use jwt-v2",
                        session_id=session.id, tags=["completed", "auth"], importance=0.9)

        # Failures and fixes: event type test_failure counts as an error in the agent's stats.
        engram.remember(agent.id, "TestLogin in auth_test.go failed after the refactoring",
                        session_id=session.id, event_type="test_failure", tags=["test_failure", "auth"],
                        importance=1.0)
        engram.remember(agent.id, "Fixed TestLogin by updating the mock token generator",
                        session_id=session.id, tags=["test_fix", "auth"], importance=0.9)

        # Before touching a file: was it already done?
        plan = ["auth.go", "session.go"]
        todo = [f for f in plan if not already_refactored(engram, agent.id, session.id, f)]
        for f in plan:
            print(f"{f}: {'to do' if f in todo else 'already refactored, skipping'}")
        assert todo == ["session.go"], todo

        # The agent restarts: the session's context (episodes and decisions of the last 24 h)
        # goes into its next prompt, within a token budget.
        ctx = engram.session_context(session.id, since="24h", include_types=["episodic", "decision"],
                                     max_tokens=800)
        system_prompt = (
            "You are a refactoring agent working on the auth module.\n\n"
            f"{ctx.context}\n\nContinue from where you left off."
        )
        print(f"context for the next prompt: {len(ctx.memory_ids)} memories, {ctx.token_count} tokens")
        headings = [line for line in ctx.context.splitlines() if line.startswith("### ")]
        print("  " + " | ".join(headings))
        assert len(ctx.memory_ids) == 5 and 0 < ctx.token_count <= 800
        assert "### Errors and Failures (1)" in headings and "### Decisions Made (1)" in headings
        for needle in ["Use the jwt-v2 library", "Reasoning: jwt-v2 is maintained", "TestLogin in auth_test.go"]:
            assert needle in system_prompt, needle

        # Time-windowed recall: everything of the last hour, newest first.
        recent = engram.recall(agent.id, since="1h")
        print(f"memories of the last hour: {len(recent)}; newest: {recent[0].content!r}")
        assert len(recent) == 5 and recent[0].content.startswith("Fixed TestLogin")

        decisions = engram.search(agent.id, types="decision", content_contains="jwt-v2")
        print(f"decision on record: {decisions[0].content} (because {decisions[0].reasoning})")
        assert [d.reasoning for d in decisions] == ["jwt-v2 is maintained and validates the token algorithm"]

        stats = engram.get_agent_stats(agent.id)
        print(f"errors in the last 24h: {stats.errors_24h}, active sessions: {stats.active_sessions}")
        assert (stats.memory_count, stats.errors_24h, stats.active_sessions) == (5, 1, 1)

        closed = engram.close_session(session.id)
        print(f"session {closed.id} is {closed.status}")
        assert closed.status == "closed"


if __name__ == "__main__":
    main()
