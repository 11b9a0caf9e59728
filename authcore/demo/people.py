"""The demo's people: name and domain lists, user agents, addresses, and the named users
(alice, bob, carol) that docs and tests refer to by name.

Data only: ``generate`` draws from these lists, ``load`` writes what it draws.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

FIRST = (
    "james mary robert patricia john jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah charles karen chris nancy daniel lisa matthew "
    "betty anthony sandra mark ashley donald kimberly steven emily paul donna andrew michelle "
    "joshua carol kenneth amanda kevin melissa brian deborah george stephanie timothy rebecca "
    "ronald laura jason sharon edward cynthia jeffrey kathleen ryan amy jacob angela gary "
    "shirley nicholas anna eric brenda jonathan pamela stephen emma larry nicole justin helen "
    "scott samantha brandon katherine benjamin christine samuel debra gregory rachel "
    "alexander carolyn frank janet patrick maria raymond olivia jack heather dennis diane "
    "jerry julie tyler joyce aaron victoria jose kelly adam ruth nathan lauren henry christina "
    "zachary joan douglas evelyn peter judith kyle megan noah andrea ethan cheryl jeremy hannah "
    "walter jacqueline christian martha keith gloria roger teresa terry ann austin sara sean "
    "madison gerald frances carl kathryn harold janice dylan jean arthur abigail lawrence "
    "alice yuki wei mohammed fatima priya arjun sofia lucas mateo chloe"
).split()
LAST = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
    "roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart "
    "morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed "
    "kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray "
    "mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez "
    "tanaka schmidt muller rossi dubois novak kowalski singh chen wang li zhang"
).split()
DOMAINS = (
    "example.com example.org example.net mail.example.com corp.example acme.example "
    "globex.example initech.example umbrella.example corp-old.example"
).split()
AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15"
    ),
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
    ),
    (
        "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0 Mobile Safari/537.36"
    ),
    "ExampleApp/4.2.1 (iOS 18.1; iPhone15,2)",
    "ExampleApp/4.2.0 (Android 14; SM-S918B)",
    "curl/8.5.0",
)
PUBLIC_NETS = (81, 88, 93, 145, 176, 185, 203)
FIRST_TITLED = [f.title() for f in FIRST]
LAST_TITLED = [name.title() for name in LAST]
NAMED_EMAILS = ("alice@example.com", "bob@example.com", "carol@example.com")


def named_users(now: datetime) -> list[tuple[dict[str, Any], list[tuple[timedelta, timedelta, str, str]]]]:
    """alice (3 active sessions on different devices + 1 expired), bob (1), carol (disabled)."""
    day = timedelta(days=1)
    return [
        (
            {
                "email": "alice@example.com",
                "username": "alice",
                "display_name": "Alice Liddell",
                "created_at": now - 400 * day,
                "last_login_at": now - timedelta(hours=2),
                "disabled": False,
                "disabled_at": None,
                "token_version": 0,
            },
            [
                (timedelta(hours=2), 30 * day, AGENTS[2], "203.0.113.10"),
                (timedelta(days=3), 30 * day, AGENTS[3], "198.51.100.23"),
                (timedelta(days=9), 30 * day, AGENTS[5], "192.0.2.77"),
                (timedelta(days=45), 30 * day, AGENTS[0], "203.0.113.99"),
            ],
        ),
        (
            {
                "email": "bob@example.com",
                "username": "bob",
                "display_name": "Bob Builder",
                "created_at": now - 200 * day,
                "last_login_at": now - 1 * day,
                "disabled": False,
                "disabled_at": None,
                "token_version": 2,
            },
            [(timedelta(days=1), 30 * day, AGENTS[1], "198.51.100.5")],
        ),
        (
            {
                "email": "carol@example.com",
                "username": "carol",
                "display_name": "Carol Danvers",
                "created_at": now - 100 * day,
                "last_login_at": now - 20 * day,
                "disabled": True,
                "disabled_at": now - 5 * day,
                "token_version": 1,
            },
            [],
        ),
    ]
