"""Framework integrations, each behind its own extra (authcore itself imports none of them).

* ``authcore.integrations.starlette``: a FastAPI/Starlette bearer-token dependency
  (``pip install 'authconsole[fastapi]'``).
"""
