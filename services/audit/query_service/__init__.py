"""The audit query API's use cases, free of protobuf: domain values in, domain values out, with
the store, the access control that asks authz and the denial recorder passed in. The gRPC
servicer (grpc_api/) only converts and calls them."""
