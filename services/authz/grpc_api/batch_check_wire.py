"""BatchCheck at the level of its bytes.

A BatchCheck of a thousand items spent more on protobuf objects than on its decisions: a message
object per item, its serialization to key the items seen before, a result object per item and
the response parsed again to hand it to gRPC. Here the request is read once as the service's
message (so that a malformed one fails as before, and for the items seen for the first time) and
once more as the list of its items' bytes, which key what is remembered of them. The response
is joined from pre-serialized results and handed to gRPC as bytes: BatchCheck is registered with
an identity response serializer (`add_access_service`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from authz.v1 import authz_pb2 as pb


def _items_only() -> type[message.Message]:
    """A message read like BatchCheckRequest but whose items are bytes: on the wire an embedded
    message and a bytes field are the same thing (field 1, length-delimited), so parsing the
    request as this gives each item's bytes, in order, without building the items."""
    file = descriptor_pb2.FileDescriptorProto(
        name="authz_internal/batch_check_wire.proto", package="authz_internal", syntax="proto3"
    )
    fields = file.message_type.add(name="BatchCheckItemBytes").field
    fields.add(
        name="items",
        number=pb.BatchCheckRequest.ITEMS_FIELD_NUMBER,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )
    pool = descriptor_pool.DescriptorPool()  # a pool of its own: nothing served sees it
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("authz_internal.BatchCheckItemBytes")
    )


_ItemBytes: Any = _items_only()


@dataclass(frozen=True, slots=True)
class BatchCheckWire:
    """A BatchCheckRequest as received: the bytes of each of its items, as the client encoded
    them (each parses as the CheckRequest the generated deserializer would have given, since
    the whole request did), and its at_least_revision."""

    items: list[bytes]
    at_least_revision: int


def read_batch_check(data: bytes) -> BatchCheckWire:
    """BatchCheck's request deserializer. The full parse comes first: a malformed request fails
    here exactly as with the generated deserializer (and no item is read from it)."""
    request = pb.BatchCheckRequest.FromString(data)
    return BatchCheckWire(list(_ItemBytes.FromString(data).items), request.at_least_revision)


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def result_entry(result: pb.BatchCheckResult) -> bytes:
    """One BatchCheckResponse.results element on the wire (field 1, length-delimited)."""
    payload = result.SerializeToString()
    return b"\x0a" + varint(len(payload)) + payload


# Most BatchCheck answers are one of these two; the response is their concatenation.
ALLOWED = result_entry(pb.BatchCheckResult(allowed=True))
DENIED = result_entry(pb.BatchCheckResult(allowed=False))


def response_bytes(entries: list[bytes], revision: int) -> bytes:
    """The BatchCheckResponse of these result entries, serialized (fields in number order, as
    SerializeToString writes them)."""
    return b"".join(entries) + pb.BatchCheckResponse(revision=revision).SerializeToString()


def add_access_service(servicer: Any, server: Any) -> None:
    """As the generated `add_AccessServiceServicer_to_server`, except for BatchCheck: its
    request is read by `read_batch_check` and its answer is already bytes (None: gRPC sends
    what the handler returns)."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, request, response in (
            ("WhoAmI", pb.WhoAmIRequest, pb.WhoAmIResponse),
            ("Check", pb.CheckRequest, pb.CheckResponse),
            ("Explain", pb.CheckRequest, pb.ExplainResponse),
            (
                "ListEffectivePermissions",
                pb.ListEffectivePermissionsRequest,
                pb.ListEffectivePermissionsResponse,
            ),
        )
    }
    handlers["BatchCheck"] = grpc.unary_unary_rpc_method_handler(
        servicer.BatchCheck, request_deserializer=read_batch_check, response_serializer=None
    )
    service = pb.DESCRIPTOR.services_by_name["AccessService"]
    if set(handlers) != {method.name for method in service.methods}:
        raise RuntimeError("add_access_service: authz.proto's AccessService changed")
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
