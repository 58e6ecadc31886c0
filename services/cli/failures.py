"""Exit codes, and failed calls told in words: the status code's name and the server's message
(which names the field for INVALID_ARGUMENT). Never the token: a message that would contain it
is scrubbed before it is printed."""

from __future__ import annotations

import grpc

OK = 0
NO = 1  # the answer is no: `check` denied, `audit verify` found a broken chain
USAGE = 2  # bad flags or input, or INVALID_ARGUMENT from a service
NOT_FOUND = 3
ACCESS = 4  # not logged in, UNAUTHENTICATED, PERMISSION_DENIED
UNAVAILABLE = 5  # UNAVAILABLE or DEADLINE_EXCEEDED: a retry may help
CONFLICT = 6  # ALREADY_EXISTS, ABORTED (stale etag), FAILED_PRECONDITION
FAILED = 7  # anything else (INTERNAL, ...)

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the answer is no (check denied, verify found a broken chain); "
    "2 usage or INVALID_ARGUMENT; 3 NOT_FOUND; 4 not logged in, UNAUTHENTICATED or "
    "PERMISSION_DENIED; 5 UNAVAILABLE or DEADLINE_EXCEEDED; 6 ALREADY_EXISTS, ABORTED or "
    "FAILED_PRECONDITION; 7 any other failure."
)

_BY_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: USAGE,
    grpc.StatusCode.OUT_OF_RANGE: USAGE,
    grpc.StatusCode.NOT_FOUND: NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED: ACCESS,
    grpc.StatusCode.PERMISSION_DENIED: ACCESS,
    grpc.StatusCode.UNAVAILABLE: UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: UNAVAILABLE,
    grpc.StatusCode.ALREADY_EXISTS: CONFLICT,
    grpc.StatusCode.ABORTED: CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: CONFLICT,
}


class Failure(Exception):
    """A command's failure: what to print on stderr and the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def usage(message: str) -> Failure:
    return Failure(message, USAGE)


def of_rpc_error(error: grpc.aio.AioRpcError, endpoint: str, secret: str) -> Failure:
    code = error.code()
    details = error.details() or ""
    message = f"{code.name}: {details}" if details else code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        message += f" (calling {endpoint})"
    return Failure(scrub(message, secret), _BY_STATUS.get(code, FAILED))


def scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
