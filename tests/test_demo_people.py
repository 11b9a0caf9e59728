"""authcore.demo.people: the name data and the named users docs and tests rely on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from authcore.demo.people import AGENTS, DOMAINS, FIRST, LAST, NAMED_EMAILS, named_users
from authcore.users.refs import check_username

NOW = datetime(2026, 11, 27, 14, 28, tzinfo=UTC)


def test_name_lists_are_plain_distinct_words() -> None:
    for words in (FIRST, LAST):
        assert len(words) == len(set(words)) > 100
        assert all(re.fullmatch(r"[a-z]+", w) for w in words)
    assert all(re.fullmatch(r"[a-z0-9.-]+\.[a-z]+", d) for d in DOMAINS)
    assert len(AGENTS) == 8  # generate picks an agent with 3 random bits


def test_named_users_are_the_documented_three() -> None:
    named = named_users(NOW)
    assert tuple(u["email"] for u, _ in named) == NAMED_EMAILS
    for user, _sessions in named:
        check_username(user["username"])  # what users.create would accept
        assert user["created_at"] < NOW
    alice, bob, carol = named
    ttl = timedelta(days=30)
    ages = [age for age, life, _agent, _ip in alice[1]]
    assert all(life == ttl for _age, life, _agent, _ip in alice[1])
    assert sum(age < ttl for age in ages) == 3 and sum(age > ttl for age in ages) == 1
    assert len({agent for _age, _life, agent, _ip in alice[1]}) == 4  # different devices
    assert (len(bob[1]), bob[0]["token_version"]) == (1, 2)
    assert carol[0]["disabled"] and carol[0]["disabled_at"] < NOW and carol[1] == []


def test_named_users_follow_the_clock() -> None:
    later = NOW + timedelta(days=10)
    a, b = named_users(NOW), named_users(later)
    assert [u["created_at"] + timedelta(days=10) for u, _ in a] == [u["created_at"] for u, _ in b]
