"""gRPC answers said in words on a page. UNAUTHENTICATED is not here: it ends the session
(app.rpc_failed), so `failure` lets it through."""

from __future__ import annotations

import grpc

WORDS = {
    grpc.StatusCode.PERMISSION_DENIED: "You are not allowed to do this",
    grpc.StatusCode.NOT_FOUND: "Not found",
    grpc.StatusCode.INVALID_ARGUMENT: "The request was not accepted",
    grpc.StatusCode.ALREADY_EXISTS: "That already exists",
    grpc.StatusCode.FAILED_PRECONDITION: "Not possible in the current state",
    grpc.StatusCode.ABORTED: "Changed by someone else meanwhile; reload and try again",
    grpc.StatusCode.UNAVAILABLE: "The service is not reachable right now; try again shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "The service took too long to answer; try again",
}


def in_words(error: grpc.aio.AioRpcError) -> str:
    """The API's own message after a plain sentence (its messages name the field or scope)."""
    lead = WORDS.get(error.code(), "Something went wrong")
    detail = error.details() or ""
    if error.code() not in WORDS:  # INTERNAL and the like: no server detail on the page
        detail = ""
    return f"{lead}: {detail}" if detail else f"{lead}."


def failure(exc: grpc.aio.AioRpcError) -> str:
    """The refusal in words for the page; UNAUTHENTICATED is raised on to end the session."""
    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
        raise exc
    return in_words(exc)
