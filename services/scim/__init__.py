"""SCIM 2.0 (RFC 7643, RFC 7644) for identity providers: Users and Groups of an account over
authz's management commands, served over HTTP by the authz process itself (server.py)."""
