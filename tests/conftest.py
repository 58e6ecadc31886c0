from tests.harness.fixtures import (
    database_url,
    kafka_bootstrap,
    opa_url,
    postgres_url,
    topic,
    unique_name,
)

__all__ = ["database_url", "kafka_bootstrap", "opa_url", "postgres_url", "topic", "unique_name"]
