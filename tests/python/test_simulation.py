"""Attribute filters over REST (Engram extension): `?attributes=<JSON object>` on listings and
`"attributes": {...}` in a search body, equality on top-level metadata keys."""

import json

import httpx


def test_attribute_filters(server, name):
    h = {"x-api-key": server.admin_key}
    for content, meta in [("traded", {"action_type": "trade", "outcome": "success"}),
                          ("refused", {"action_type": "trade", "outcome": "failure"}),
                          ("walked", {"action_type": "move", "outcome": "success"})]:
        r = httpx.post(f"{server.url}/api/v1/memories", headers=h,
                       json={"agent_id": name, "content": content, "metadata": meta})
        assert r.status_code == 201, r.text
    attrs = json.dumps({"action_type": "trade", "outcome": "success"})
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "attributes": attrs})
    assert [m["content"] for m in r.json()["memories"]] == ["traded"]
    r = httpx.post(f"{server.url}/api/v1/search", headers=h,
                   json={"agent_id": name, "attributes": {"outcome": "success"}})
    assert sorted(m["content"] for m in r.json()["results"]) == ["traded", "walked"]
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "attributes": "not json"})
    assert r.status_code == 400 and r.json()["error"].startswith("attributes")


def test_near_filter(server, name):
    h = {"x-api-key": server.admin_key}
    for content, position in [("river", {"x": 10.5, "y": 20.5}), ("mountain", {"x": 40, "y": 20})]:
        httpx.post(f"{server.url}/api/v1/memories", headers=h,
                   json={"agent_id": name, "content": content, "position": position})
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "near": "10,20,2"})
    assert [m["content"] for m in r.json()["memories"]] == ["river"]
    r = httpx.post(f"{server.url}/api/v1/search", headers=h,
                   json={"agent_id": name, "near": {"x": 40, "y": 20, "radius": 1}})
    assert [m["content"] for m in r.json()["results"]] == ["mountain"]
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "near": "10,20"})
    assert r.status_code == 400 and r.json()["error"].startswith("near")


def test_step_order(server, name):
    h = {"x-api-key": server.admin_key}
    for step in [3, 1, 2]:
        httpx.post(f"{server.url}/api/v1/memories", headers=h,
                   json={"agent_id": name, "content": f"step {step}", "step": step})
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "order": "step_asc"})
    assert [m["step"] for m in r.json()["memories"]] == [1, 2, 3]
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "order": "sideways"})
    assert r.status_code == 400 and r.json()["error"].startswith("order")


def test_tiers(server, name):
    """Every memory carries its tier (new ones are hot); `tiers` filters listings and searches."""
    h = {"x-api-key": server.admin_key}
    r = httpx.post(f"{server.url}/api/v1/memories", headers=h, json={"agent_id": name, "content": "fresh"})
    assert r.status_code == 201 and r.json()["tier"] == "hot", r.text
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "tiers": "stm,im"})
    assert [m["content"] for m in r.json()["memories"]] == ["fresh"]
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "tiers": "cold"})
    assert r.json()["memories"] == []
    r = httpx.post(f"{server.url}/api/v1/search", headers=h, json={"agent_id": name, "tiers": ["ltm"]})
    assert r.json()["results"] == []
    r = httpx.get(f"{server.url}/api/v1/memories", headers=h, params={"agent_id": name, "tiers": "lukewarm"})
    assert r.status_code == 400 and r.json()["error"].startswith("tiers[0]"), r.text
    r = httpx.get(f"{server.url}/api/v1/agents/{name}/stats", headers=h)
    assert r.json()["tiers"] == {"hot": 1, "warm": 0, "cold": 0}, r.text
