"""The programs in examples/ run against the real binary and print what they assert.

Each example is a subprocess of this venv's python with ENGRAM_ADDR / ENGRAM_API_KEY pointing at
the session's server; it must exit 0 (its own asserts passed) and print the lines below. Each
runs twice against the same server: a rerun must not collide with the first run's agents."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"

# What each example must print (regular expressions, searched line by line).
EXPECTED = {
    "coding_agent.py": [
        r"^agent refactor-agent-[0-9a-f]{8} \(agent_[0-9a-f]{24}\), session sess_\w+$",
        r"^auth\.go: already refactored, skipping$",
        r"^session\.go: to do$",
        r"^context for the next prompt: 5 memories, \d+ tokens$",
        r"### Recent Actions \(3\) \| ### Decisions Made \(1\) \| ### Errors and Failures \(1\)$",
        r"^memories of the last hour: 5; newest: 'Fixed TestLogin",
        r"^decision on record: Use the jwt-v2 library instead of jwt-v1 \(because jwt-v2 is maintained",
        r"^errors in the last 24h: 1, active sessions: 1$",
        r"^session sess_\w+ is closed$",
    ],
    "infrastructure_agent.py": [
        r"^prod-web-01: restarts in the last 2h: 1 -> scale out$",
        r"^prod-web-02: restarts in the last 2h: 0 -> restart$",
        r"^memories in the last hour: 5, in the last 4 hours: 6$",
        r"^decision: Restart Redis service on prod-web-01 -- because: Memory leak confirmed",
        r"^decision: Scale Redis horizontally on prod-web-01 instead of restarting again -- because: A restart at",
        r"^critical memories: 2$",
        r"^context: 6 memories in \d+ tokens$",
    ],
    "research_agent.py": [
        r"^crawl https://example\.com/products$",
        r"^crawl https://example\.com/products\?page=2$",
        r"^skip  https://example\.com/products \(already crawled\)$",
        r"^crawl https://example\.com/reviews$",
        r"^skip  https://example\.com/products\?page=2 \(already crawled\)$",
        r"^price observations in the last 7 days: 7$",
        r"^product X: 14 observations, \$45-\$65, average \$57, lowest on Tuesday$",
        r"^memories about the Tuesday low: 2$",
        r"^knowledge for the next prompt: 2 memories, \d+ tokens$",
        r"^everything within 200 tokens: \d+ memories in, \d+ left out$",
    ],
    "legal_assistant.py": [
        r"^attorney-smith: 3 messages, mentions Smith v\. Johnson: True, mentions Davis v\. Brown: False$",
        r"^attorney-jones: 3 messages, mentions Davis v\. Brown: True, mentions Smith v\. Johnson: False$",
        r"^conversations named 'case-research': 2 \(attorney-jones, attorney-smith\)$",
        r"^drafting agent sarah: no conversation 'case-research' for attorney-smith$",
        r"^attorney-smith: 123 messages stored, window 100 messages / \d+ tokens \(limits 100 / 8000\), "
        r"23 left out$",
        r"^attorney-jones: 23 messages stored, window \d+ messages / \d+ tokens, \d+ left out$",
        r"^prompt for the next model call: \['system', 'user', 'assistant', 'user', 'assistant'\]$",
    ],
    "trading_simulation.py": [
        r"^price path: \[10, 12, 12, 10, 10, 8, 12, 10, 8\]$",
        r"^  alice-\w+ step 3: success: \{\"action_type\": \"wait\"\}$",
        r"^  alice-\w+ step 4: success: \{\"action_type\": \"trade\", \"price\": 10, \"side\": \"buy\"\}$",
        r"^  alice-\w+ step 5: error: \"TradeRejected: alice-\w+ cannot pay 10\"$",
        r"^alice-\w+: 2 successful trades, 3 refused, now \{'cash': 5, 'wood': 2\}$",
        r"^bob-\w+: 3 successful trades, 5 refused, now \{'cash': 0, 'wood': 3\}$",
        r"^carol-\w+: 8 successful trades, 0 refused, now \{'cash': 73, 'wood': 0\}$",
        r"^market-\w+: 8 quotes recorded$",
        r"^closest to cash 16, wood 1: cash 15, wood 1, similarity 0\.9\d, at steps \[1, 2, 3, 4\]$",
        r"^alice-\w+: total memories 24, by type \{'(state': 16, 'action': 8|action': 8, 'state': 16)\}$",
        r"^maintenance dry run: scanned 24, would move 0 to cold$",
    ],
}


def test_every_example_is_tested():
    """A new example must get its expected lines here."""
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)
    assert (EXAMPLES / "README.md").is_file()
    readme = (EXAMPLES / "README.md").read_text()
    assert [name for name in EXPECTED if name not in readme] == []


def run(server, example):
    env = dict(os.environ, ENGRAM_ADDR=server.addr, ENGRAM_API_KEY=server.admin_key)
    return subprocess.run([sys.executable, str(EXAMPLES / example)], env=env, cwd=EXAMPLES.parent,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_example(server, example):
    for attempt in ("first run", "rerun"):
        out = run(server, example)
        assert out.returncode == 0, (f"{example} ({attempt}) exited {out.returncode}\n"
                                     f"--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}")
        missing = [p for p in EXPECTED[example] if not re.search(p, out.stdout, re.MULTILINE)]
        assert missing == [], f"{example} ({attempt}) did not print {missing}\n--- stdout\n{out.stdout}"
        assert out.stderr == "", f"{example} ({attempt}) wrote to stderr:\n{out.stderr}"


def test_a_failed_assert_fails_the_example(server, tmp_path):
    """The examples report a wrong answer by their exit status: an example whose assert fails
    exits non-zero (what test_example relies on)."""
    broken = (EXAMPLES / "coding_agent.py").read_text().replace('assert todo == ["session.go"]',
                                                               'assert todo == ["auth.go"]')
    assert broken != (EXAMPLES / "coding_agent.py").read_text()
    (tmp_path / "broken.py").write_text(broken)
    env = dict(os.environ, ENGRAM_ADDR=server.addr, ENGRAM_API_KEY=server.admin_key)
    out = subprocess.run([sys.executable, str(tmp_path / "broken.py")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0 and "AssertionError" in out.stderr
