"""Recipe "FastAPI lifespan": the AuthCore and Verifier live and die with each worker's app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from authcore.config import load_config
from authcore.core import AuthCore
from authcore.integrations.starlette import BearerAuth
from authcore.verifier import Verifier
from tests.app import routes


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    core = AuthCore.from_config(load_config(), app=True)  # fails at start on a bad setup
    verifier = Verifier(core)  # waits (up to 5 s) for its first sync: no request is
    # served before the lifespan has started
    app.state.core, app.state.verifier = core, verifier
    try:
        yield
    finally:
        verifier.close()
        core.dispose()


app = FastAPI(lifespan=lifespan)
auth = BearerAuth()  # reads app.state.verifier
routes.build(app, auth, lambda request: request.app.state.core)
