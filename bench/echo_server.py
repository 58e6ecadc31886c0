"""python -m bench.echo_server --port N: the transport ceiling for the authz benchmarks.

A grpc.aio server with the authz AccessService's Check and BatchCheck signatures that answers
without any work: a constant CheckResponse, and a BatchCheckResponse with one constant result per
item. Same messages, same Python gRPC stack as the service, no authentication, no policy.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import grpc

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]

CHECK = pb.CheckResponse(allowed=True, revision=1)
ALLOWED = pb.BatchCheckResult(allowed=True)


class EchoAccess(pb_grpc.AccessServiceServicer):
    async def Check(self, request: pb.CheckRequest, context: Context) -> pb.CheckResponse:
        return CHECK

    async def BatchCheck(
        self, request: pb.BatchCheckRequest, context: Context
    ) -> pb.BatchCheckResponse:
        return pb.BatchCheckResponse(results=[ALLOWED] * len(request.items), revision=1)

    async def Explain(self, request: pb.CheckRequest, context: Context) -> pb.ExplainResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "echo: Check and BatchCheck only")

    async def ListEffectivePermissions(
        self, request: pb.ListEffectivePermissionsRequest, context: Context
    ) -> pb.ListEffectivePermissionsResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "echo: Check and BatchCheck only")

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "echo: Check and BatchCheck only")


async def serve(host: str, port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_AccessServiceServicer_to_server(EchoAccess(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"echo serving on {host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
