"""A research agent that crawls a shop, never crawls a page twice, and builds knowledge over time.

Before crawling a URL it asks Engram whether it already did; it records each crawled page with
its URL and product count as metadata, stores two weeks of price observations (back-filled with
`time=`), derives a pattern from what it remembers, records it as a decision with its reasoning
and as a finding, and assembles the context for its next prompt.

Run it against a local server:

    make run                                                               # one terminal
    ENGRAM_API_KEY=$(cat data/admin.key) python examples/research_agent.py      # another

ENGRAM_ADDR (default 127.0.0.1:9100) and ENGRAM_API_KEY are read by Engram().
"""

import datetime as dt
import statistics
import uuid

from engram import Engram

SITE = {  # what the pretend crawler finds: URL -> number of product listings
    "https://example.com/products": 15,
    "https://example.com/products?page=2": 9,
    "https://example.com/reviews": 0,
}
PRICE_BY_WEEKDAY = {"Monday": 58, "Tuesday": 45, "Wednesday": 52, "Thursday": 55, "Friday": 61,
                    "Saturday": 65, "Sunday": 60}


def already_crawled(engram, agent, url):
    # The URL is in the metadata, so an attribute filter is an exact match; content_contains=url
    # would also match every longer URL starting with this one ("...products?page=2").
    return len(engram.search(agent, tags=["crawling"], attributes={"url": url}, limit=1)) > 0


def main():
    agent = f"research-agent-{uuid.uuid4().hex[:8]}"
    with Engram() as engram:
        # 1. Crawl, skipping what was already crawled (the frontier has repeats).
        frontier = ["https://example.com/products", "https://example.com/products?page=2",
                    "https://example.com/products", "https://example.com/reviews",
                    "https://example.com/products?page=2"]
        crawled = []
        for url in frontier:
            if already_crawled(engram, agent, url):
                print(f"skip  {url} (already crawled)")
                continue
            engram.remember(agent, f"Crawled {url} - found {SITE[url]} product listings",
                            tags=["crawling", "products"], metadata={"url": url, "product_count": SITE[url]},
                            importance=0.6)
            crawled.append(url)
            print(f"crawl {url}")
        assert crawled == list(SITE), crawled

        # 2. Two weeks of daily price observations of product X, one a day, back-filled.
        now = dt.datetime.now(dt.timezone.utc)
        observations = []
        for days_ago in range(14):
            when = now - dt.timedelta(days=days_ago, hours=1)
            weekday = when.strftime("%A")
            price = PRICE_BY_WEEKDAY[weekday]
            observations.append({"agent": agent, "content": f"Product X costs ${price} on {weekday} {when:%Y-%m-%d}",
                                 "tags": ["pricing", "product_x"], "time": when, "importance": 0.3,
                                 "metadata": {"product": "product_x", "price": price, "weekday": weekday}})
        assert engram.add_memories(observations).created == 14

        # 3. Time-windowed recall: the last week holds 7 of the 14 observations.
        last_week = engram.recall(agent, since="7d", tags=["pricing"])
        print(f"price observations in the last 7 days: {len(last_week)}")
        assert len(last_week) == 7

        # 4. The pattern, from everything remembered about product X.
        seen = engram.search(agent, attributes={"product": "product_x"}, since="30d").memories
        prices = [m.metadata["price"] for m in seen]
        cheapest = min(seen, key=lambda m: m.metadata["price"]).metadata["weekday"]
        avg = statistics.mean(prices)
        print(f"product X: {len(seen)} observations, ${min(prices)}-${max(prices)}, "
              f"average ${avg:.0f}, lowest on {cheapest}")
        assert (len(seen), min(prices), max(prices), cheapest) == (14, 45, 65, "Tuesday")
        engram.decide(agent, f"Product prices follow a weekly cycle, lowest on {cheapest}s",
                      f"{len(seen)} observations of product X over 2 weeks show the same pattern",
                      importance=0.9)
        engram.remember(agent, f"Product X price range: ${min(prices)}-${max(prices)}, average ${avg:.0f}, "
                        f"lowest on {cheapest}s", memory_type="semantic",
                        tags=["analysis", "pricing", "product_x"], importance=0.8)

        # 5. What do I know about Tuesdays? (case-insensitive, word prefixes)
        conclusions = engram.search(agent, content_contains="lowest on tuesday", since="30d")
        print(f"memories about the Tuesday low: {len(conclusions)}")
        assert sorted(m.memory_type for m in conclusions) == ["decision", "semantic"]

        # 6. The next prompt: conclusions first, then a budgeted look at everything.
        knowledge = engram.context(agent, since="30d", include_types=["decision", "semantic"], max_tokens=300)
        print(f"knowledge for the next prompt: {len(knowledge.memory_ids)} memories, {knowledge.token_count} tokens")
        assert len(knowledge.memory_ids) == 2 and "Reasoning: 14 observations" in knowledge.context
        everything = engram.context(agent, since="30d", max_tokens=200)
        print(f"everything within 200 tokens: {len(everything.memory_ids)} memories in, "
              f"{everything.omitted_count} left out")
        assert everything.token_count <= 200 and everything.omitted_count > 0
        assert len(everything.memory_ids) + everything.omitted_count == 3 + 14 + 2


if __name__ == "__main__":
    main()
