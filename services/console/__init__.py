"""The web console: server-rendered pages over the gRPC APIs of authz and audit."""
