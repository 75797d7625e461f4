"""A small trading simulation recorded by Engram's memory hooks, then queried like AgentMemoryAPI.

Three traders (plain classes with act() and get_state()) buy and sell wood from a market for
eight steps. The Trader class is decorated with @install_memory_hooks; the market, a class we
pretend we cannot change, is wrapped with with_memory(). Every act() is stored as the state before,
the action (result or error, outcome, state diff) and the state after, by step. Then the product
docs' queries: retrieve_by_time_range, retrieve_by_attributes, retrieve_similar_states,
get_memory_statistics and force_memory_maintenance (dry run).

Run it against a local server:

    make run                                                                   # one terminal
    ENGRAM_API_KEY=$(cat data/admin.key) python examples/trading_simulation.py      # another

ENGRAM_ADDR (default 127.0.0.1:9100) and ENGRAM_API_KEY are read by Engram() (the hooks' too).
"""

import json
import uuid

from engram import Engram, install_memory_hooks, with_memory

STEPS = 8


class TradeRejected(Exception):
    """A buy the trader cannot pay for."""


@install_memory_hooks  # records each act() of every Trader, as the agent named by its `name`
class Trader:
    def __init__(self, name, cash, wood, buy_below, sell_above):
        self.name, self.cash, self.wood = name, cash, wood
        self.buy_below, self.sell_above = buy_below, sell_above
        self.trades = self.rejections = 0  # the trader's own tally, to check the memory against

    def get_state(self):
        return {"cash": self.cash, "wood": self.wood}

    def act(self, price):
        if price <= self.buy_below:
            if self.cash < price:
                self.rejections += 1
                raise TradeRejected(f"{self.name} cannot pay {price}")
            self.cash, self.wood, self.trades = self.cash - price, self.wood + 1, self.trades + 1
            return {"action_type": "trade", "side": "buy", "price": price}
        if price >= self.sell_above and self.wood > 0:
            self.cash, self.wood, self.trades = self.cash + price, self.wood - 1, self.trades + 1
            return {"action_type": "trade", "side": "sell", "price": price}
        return {"action_type": "wait"}


class Market:
    """Demand moves the price: +2 per net buy, -2 per net sell. (No get_state(): the hooks
    record its public attributes, price and volume.)"""

    def __init__(self):
        self.price, self.volume = 10, 0

    def act(self, orders):
        self.price = max(1, self.price + 2 * (orders.count("buy") - orders.count("sell")))
        self.volume += len(orders)
        return {"action_type": "quote", "price": self.price}


def main():
    run = uuid.uuid4().hex[:6]
    traders = [Trader(f"alice-{run}", 25, 0, 11, 14), Trader(f"bob-{run}", 30, 0, 13, 16),
               Trader(f"carol-{run}", 5, 6, 8, 10)]
    with Engram() as engram:
        market = with_memory(Market(), engram, agent_id=f"market-{run}")
        prices = [market.price]
        for _ in range(STEPS):
            orders = []
            for trader in traders:
                try:
                    result = trader.act(prices[-1])
                    if result["action_type"] == "trade":
                        orders.append(result["side"])
                except TradeRejected:
                    pass  # recorded by the hooks as an action with outcome "error"
            prices.append(market.act(orders)["price"])
        print(f"price path: {prices}")

        alice = traders[0].name
        # What did alice do in steps 3 to 5?
        actions = engram.retrieve_by_time_range(alice, 3, 5, memory_type="action")
        for m in actions:
            what = json.dumps(m.metadata.get("result", m.metadata.get("error")), sort_keys=True)
            print(f"  {alice} step {m.step}: {m.metadata['outcome']}: {what}")
        assert [m.step for m in actions] == [3, 4, 5]

        # When did each trader trade successfully, and when was it refused?
        for t in traders:
            ok = engram.retrieve_by_attributes(t.name, {"action_type": "trade", "outcome": "success"},
                                               memory_type="action")
            refused = engram.retrieve_by_attributes(t.name, {"outcome": "error"}, memory_type="action")
            print(f"{t.name}: {len(ok)} successful trades, {len(refused)} refused, now {t.get_state()}")
            assert (len(ok), len(refused)) == (t.trades, t.rejections)
        assert sum(t.trades for t in traders) > 0 and sum(t.rejections for t in traders) > 0

        # The market's recorded quotes are the price path.
        quotes = engram.retrieve_by_time_range(f"market-{run}", 1, STEPS, memory_type="action")
        print(f"market-{run}: {len(quotes)} quotes recorded")
        assert [q.metadata["result"]["price"] for q in quotes] == prices[1:]

        # Which of alice's past states is most like {"cash": 16, "wood": 1}? (A state recurs: the
        # state after one step is the state before the next, and idle steps change nothing.)
        similar = engram.retrieve_similar_states(alice, {"cash": 16, "wood": 1}, k=10)
        best = similar[0]
        steps = sorted({s.memory.step for s in similar if s.state == best.state})
        print(f"closest to cash 16, wood 1: cash {best.state['cash']}, wood {best.state['wood']}, "
              f"similarity {best.similarity:.2f}, at steps {steps}")
        assert best.state == {"cash": 15, "wood": 1} and 0.9 < best.similarity < 1.0

        # Statistics: per step, two states (before, after) and one action.
        stats = engram.get_memory_statistics(alice)
        print(f"{alice}: total memories {stats['total_memories']}, by type {stats['memory_type_distribution']}")
        assert stats.memory_type_distribution == {"state": 2 * STEPS, "action": STEPS}
        assert (stats.total_memories, stats.oldest_step, stats.newest_step) == (3 * STEPS, 1, STEPS)

        # Maintenance (tier moves): a dry run reports what a pass would do; all is fresh and hot.
        report = engram.force_memory_maintenance(alice, dry_run=True)
        print(f"maintenance dry run: scanned {report.scanned}, would move {report.to_cold} to cold")
        assert report.dry_run and report.scanned == 3 * STEPS and report.to_cold == 0


if __name__ == "__main__":
    main()
