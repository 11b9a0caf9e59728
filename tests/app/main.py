"""Recipe "module level": one AuthCore and one Verifier per process, built at import.

Works under ``uvicorn --workers N`` (each worker imports the app) and under
``gunicorn --preload -k uvicorn.workers.UvicornWorker`` (built once in the master, then forked:
the verifier notices the fork and restarts its thread in each worker; see gunicorn_conf.py for
the optional ``post_fork`` wait).
"""

from fastapi import FastAPI

from authcore.config import load_config
from authcore.core import AuthCore
from authcore.integrations.starlette import BearerAuth
from authcore.verifier import Verifier
from tests.app import routes

core = AuthCore.from_config(load_config(), app=True)  # fails at start on a bad setup
verifier = Verifier(core)  # fork-safe (gunicorn --preload)
auth = BearerAuth(verifier)

app = FastAPI()
app.state.verifier = verifier
routes.build(app, auth, lambda request: core)
