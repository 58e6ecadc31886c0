"""Field names that carry secrets in real APIs, headers and configuration files, collected from
their documentation (not from the masking rule), and names that do not."""

SECRET_NAMES = [
    # passwords and passphrases
    "password", "Password", "db_password", "POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD", "passwd",
    "pwd", "userPwd", "passphrase", "ssh_passphrase", "pass",
    # API keys and private keys
    "api_key", "api-key", "apiKey", "X-Api-Key", "x-api-key", "ApiKey", "private_key",
    "private-key", "privateKey", "ssh-key", "tls_key", "signing_key", "encryption_key",
    "master_key", "stripe_secret_key", "AWS_SECRET_ACCESS_KEY", "aws_access_key_id",
    # OAuth / tokens
    "client_secret", "clientSecret", "secret", "access_token", "refresh_token", "id_token",
    "accessToken", "GITHUB_TOKEN", "x-amz-security-token", "bearer_token", "jwt", "X-CSRF-Token",
    "npm_auth_token", "credentials", "auth",
    # HTTP headers and sessions
    "Authorization", "authorization", "Proxy-Authorization", "cookie", "Cookie", "Set-Cookie",
    "session_id", "sessionId", "JSESSIONID", "PHPSESSID",
    # connection strings, one-time codes
    "connection_string", "ConnectionString", "dsn", "otp", "pin",
]  # fmt: skip

PLAIN_NAMES = [
    "name", "email", "description", "identifier", "scope", "members", "permissions", "role",
    "resource_group", "created_at", "updated_at", "display_name", "owner", "visibility",
    "account", "organization", "project", "type", "labels", "included_scopes",
    "resource_filters", "disabled", "revoked", "expires_at", "author", "passenger_count",
    "compass_heading", "monkey", "keyboard_layout", "bypass_cache", "spinner", "topic",
    "partition", "offset", "hostname", "port", "username", "status", "version", "region",
]  # fmt: skip
