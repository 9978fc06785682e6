"""Runs moto's server for ctsync's tests, with one change: DynamoDB requests
are handled one at a time.

DynamoDB evaluates a conditional write atomically; moto's server is always
threaded and its DynamoDB backend takes no lock, so two concurrent
UpdateItem calls on one item can both pass the same condition (a lost
update real DynamoDB never allows). ctsync's store relies on conditional
writes, so its tests need DynamoDB's semantics. SQS and S3 stay concurrent:
SQS long polls would otherwise hold everything up.

Usage: python3 moto_server.py HOST PORT (with moto on PYTHONPATH).
"""
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

app = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def serialized(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with dynamodb:
            # Drain the whole response while holding the lock.
            return list(app(environ, start_response))
    return app(environ, start_response)


if __name__ == "__main__":
    run_simple(sys.argv[1], int(sys.argv[2]), serialized, threaded=True, request_handler=MotoRequestHandler)
