"""What every server starts from: settings base, logging, the gRPC server bootstrap, the error
boundary and the channel to authz. A new gRPC server is a settings class, a `register`
function and `serve_grpc`."""
