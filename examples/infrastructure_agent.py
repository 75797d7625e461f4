"""An infrastructure agent that investigates alerts and remediates them without repeating itself.

It records an investigation and its finding, logs the remediation decision with its reasoning,
records the action, and before restarting a service asks Engram whether it already did so within
the last two hours: if so it changes approach (and records that decision) instead of restarting
again. A restart from three hours ago (back-filled with `time=`) falls outside that window.

Run it against a local server:

    make run                                                                   # one terminal
    ENGRAM_API_KEY=$(cat data/admin.key) python examples/infrastructure_agent.py    # another

ENGRAM_ADDR (default 127.0.0.1:9100) and ENGRAM_API_KEY are read by Engram().
"""

import datetime as dt
import uuid

from engram import Engram


def restarted_recently(engram, agent, host, window="2h"):
    """The agent's Redis restarts on this host within the window, newest first. The words of
    content_contains match as word prefixes: "Restart Redis" finds "Restarted Redis on ...";
    the tag "action" leaves out the decision "Restart Redis service ..."."""
    return engram.search(agent, tags=["action", host], content_contains="Restart Redis", since=window).memories


def main():
    agent = f"infra-agent-{uuid.uuid4().hex[:8]}"  # a name registers the agent at its first write
    with Engram() as engram:
        # An older incident: prod-web-02's Redis was restarted three hours ago.
        three_hours_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)
        engram.remember(agent, "Restarted Redis on prod-web-02 after a connection storm",
                        tags=["action", "prod-web-02", "redis"], importance=0.7, time=three_hours_ago)

        # Today's alert on prod-web-01: investigate, find, decide, act.
        engram.remember(agent, "Investigating high memory usage on prod-web-01",
                        tags=["investigation", "memory", "prod-web-01"], importance=0.9)
        engram.remember(agent, "Found a memory leak in the Redis connection pool on prod-web-01",
                        tags=["finding", "memory", "prod-web-01", "redis"], importance=1.0)
        engram.decide(agent, "Restart Redis service on prod-web-01",
                      "Memory leak confirmed, a restart clears the leaked connections")
        engram.remember(agent, "Restarted Redis on prod-web-01, memory usage dropped to normal",
                        tags=["action", "prod-web-01", "redis", "resolved"], importance=0.9)

        # The alert fires again on both hosts. Restart again?
        plan = {}
        for host in ["prod-web-01", "prod-web-02"]:
            recent = restarted_recently(engram, agent, host)
            if recent:
                when = recent[0].time.strftime("%H:%M:%S")
                engram.decide(agent, f"Scale Redis horizontally on {host} instead of restarting again",
                              f"A restart at {when} UTC had only a temporary effect", importance=1.0)
                plan[host] = "scale out"
            else:
                plan[host] = "restart"
            print(f"{host}: restarts in the last 2h: {len(recent)} -> {plan[host]}")
        assert plan == {"prod-web-01": "scale out", "prod-web-02": "restart"}, plan

        # Time-windowed recall: the last hour holds today's incident only; 4 h reach the old one.
        last_hour = engram.recall(agent, since="1h")
        last_4h = engram.recall(agent, since="4h")
        print(f"memories in the last hour: {len(last_hour)}, in the last 4 hours: {len(last_4h)}")
        assert (len(last_hour), len(last_4h)) == (5, 6)
        assert last_hour[0].content.startswith("Scale Redis horizontally on prod-web-01")

        # The audit trail of decisions, oldest first, each with its reasoning.
        decisions = engram.search(agent, types="decision", since="24h", order="asc")
        for d in decisions:
            print(f"decision: {d.content} -- because: {d.reasoning}")
        assert [d.content for d in decisions] == [
            "Restart Redis service on prod-web-01",
            "Scale Redis horizontally on prod-web-01 instead of restarting again",
        ]

        # Only the important memories, for a quick handover note.
        critical = engram.search(agent, min_importance=1.0, since="24h")
        print(f"critical memories: {len(critical)}")
        assert sorted(m.content for m in critical) == [
            "Found a memory leak in the Redis connection pool on prod-web-01",
            "Scale Redis horizontally on prod-web-01 instead of restarting again",
        ]

        # What the agent's next prompt starts from: the last 4 hours within 600 tokens.
        ctx = engram.context(agent, since="4h", max_tokens=600)
        print(f"context: {len(ctx.memory_ids)} memories in {ctx.token_count} tokens")
        assert len(ctx.memory_ids) == 6 and ctx.token_count <= 600
        assert "Reasoning: Memory leak confirmed" in ctx.context
        assert "Restarted Redis on prod-web-02" in ctx.context


if __name__ == "__main__":
    main()
