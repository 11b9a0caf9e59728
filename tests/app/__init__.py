"""The test app: FastAPI built exactly as docs/verifier.md's recipes show (see test_app_server)."""
