"""What every server starts from: settings base, logging, the gRPC server bootstrap, the error
boundary and the channel to authz. A new gRPC server, in a few lines:

    class GovernanceSettings(GrpcServerSettings, AuthzClientSettings):
        model_config = SettingsConfigDict(env_prefix="GOVERNANCE_", frozen=True)
        port: int = 50053

    ERRORS = ErrorBoundary(GovernanceError)  # its classes declare `status = "NOT_FOUND"`, ...

    def register(server: grpc.aio.Server) -> list[str]:
        add_PolicyServiceServicer_to_server(ERRORS.guard_servicer(servicer, SERVICE), server)
        return [SERVICE.full_name]

    configure_logging(settings.log_level, settings.log_format)
    async with serve_grpc(settings, register, label="governance"):
        await stop.wait()
"""
