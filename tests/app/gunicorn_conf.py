"""gunicorn settings for the module-level recipe with ``--preload``.

``post_fork`` is optional: the verifier restarts its thread in each worker by itself; waiting
for its first sync here means a worker takes requests only with a fresh cache (until then they
would take the one-query stale path).
"""


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    from tests.app.main import verifier

    verifier.wait_ready(5)
