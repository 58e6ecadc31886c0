"""The `authz-audit` command line (typer + rich) over the gRPC APIs of authz and audit."""
