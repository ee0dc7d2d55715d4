"""What a consumer is configured with, apart from the client: the Dagster resources and the CLI build it without
loading the client, pyarrow or numpy."""

from dataclasses import dataclass, field

from jushita_etl.mq import DEFAULT_THREADS


@dataclass
class MQSettings:
    """Where a consumer consumes from and with how many consume threads."""

    namesrv: str
    group: str
    topic: str
    tags: str = "*"
    model: str = "clustering"
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)  # never printed
    channel: str = "CLOUD"
    threads: int = DEFAULT_THREADS
