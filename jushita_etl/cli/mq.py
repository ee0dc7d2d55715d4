"""The RocketMQ subcommands: consume, broker, publish.

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

import sys
from pathlib import Path

from jushita_etl.cli.common import UserError, data_paths, env
from jushita_etl.mq import DEFAULT_THREADS


def _mq_settings(args):
    from jushita_etl.mq.settings import MQSettings

    missing = [name for name in ("namesrv", "group", "topic") if not getattr(args, name)]
    if missing:
        raise UserError("missing " + ", ".join(f"--{m} (or $JUSHITA_MQ_{m.upper()})" for m in missing))
    return MQSettings(namesrv=args.namesrv, group=args.group, topic=args.topic, tags=args.tags, model=args.model,
                      access_key=args.access_key, secret_key=args.secret_key, channel=args.channel, threads=args.threads)


def cmd_consume(args) -> int:
    from jushita_etl.mq.consume import Bounds, ConsumerBusy, run_consumer

    settings = _mq_settings(args)
    _probe(settings.namesrv, settings.topic, args, topic_must_exist=True)
    paths = data_paths(args)
    bounds = Bounds(max_messages=args.max_messages, idle_timeout=args.idle_timeout, duration=args.duration)
    print(f"consuming {settings.topic} ({settings.tags}) as {settings.group} [{settings.model}] from {settings.namesrv} "
          f"-> {paths.landing}; stop with Ctrl-C", file=sys.stderr, flush=True)
    from jushita_etl.warehouse.landed import Shipper

    shipper = Shipper(paths)
    try:
        report = run_consumer(settings, paths, bounds, handle_signals=True, log_level=args.log_level,
                              on_progress=shipper.tick)
    except ConsumerBusy as exc:
        raise UserError(str(exc)) from None
    try:
        shipper.final()
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    print(f"landed {report.landed:,} deliveries in {report.batches} batch(es), {report.rate:,.0f}/s while active; "
          f"stopped by {report.stopped_by}" + (f"; recovered {report.recovered:,} from an earlier crash" if report.recovered else ""))
    if report.landed == 0 and report.failed:
        raise UserError(f"no delivery could be landed ({report.failed} failed); see {paths.logs / 'rocketmq'}")
    return 0


def cmd_broker(args) -> int:
    import asyncio
    import logging

    from jushita_etl.mq.broker import Broker, serve

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    broker = Broker(args.host, args.port, store=Path(args.store) if args.store else None, secret=args.secret,
                    delay_scale=args.delay_scale, max_reconsume=args.max_reconsume, new_group_from=args.new_group_from)

    def ready(b):
        print(f"dev broker listening on {b.address} (name server and broker)", flush=True)

    asyncio.run(serve(broker, ready))
    return 0


def cmd_publish(args) -> int:
    from jushita_etl.mq.publish import publish_file

    if not Path(args.file).is_file():
        raise UserError(f"no such replay file: {args.file}")
    if not args.namesrv:
        raise UserError("missing --namesrv (or $JUSHITA_MQ_NAMESRV)")
    _probe(args.namesrv, args.topic, args)
    report = publish_file(args.file, namesrv=args.namesrv, topic=args.topic, tags=args.tags,
                          access_key=args.access_key, secret_key=args.secret_key, channel=args.channel,
                          log_dir=data_paths(args).logs / "rocketmq", producers=args.producers,
                          on_bad=lambda bad: print(f"skipped {bad.where}: {bad.reason}", file=sys.stderr))
    by = f" by {report.producers} producers" if report.producers > 1 else ""
    print(f"published {report.sent:,} messages to {args.topic}{by} in {report.seconds:.2f}s "
          f"({report.sent / max(report.seconds, 1e-9):,.0f}/s)")
    return 0


def _probe(namesrv, topic, args, *, topic_must_exist: bool = False) -> None:
    from jushita_etl.mq.remoting import ProbeError, probe_route

    try:
        probe_route(namesrv, topic, access_key=args.access_key, secret_key=args.secret_key, channel=args.channel,
                    topic_must_exist=topic_must_exist)
    except ProbeError as exc:
        raise UserError(str(exc)) from None


def _credentials(p):
    p.add_argument("--access-key", default=env("JUSHITA_MQ_ACCESS_KEY"), help="ONS AccessKey (the appkey); $JUSHITA_MQ_ACCESS_KEY")
    p.add_argument("--secret-key", default=env("JUSHITA_MQ_SECRET_KEY"),
                   help="ONS SecretKey; prefer $JUSHITA_MQ_SECRET_KEY (arguments are visible to other users)")
    p.add_argument("--channel", default=env("JUSHITA_MQ_CHANNEL", "CLOUD"), help="OnsChannel (default CLOUD)")


def _float_env(name):
    value = env(name)
    return float(value) if value else None


def _register_mq(sub, common):
    p = sub.add_parser("consume", parents=[common], help="consume a RocketMQ/ONS topic into the landing zone")
    p.add_argument("--namesrv", default=env("JUSHITA_MQ_NAMESRV"), help="name server HOST:PORT; $JUSHITA_MQ_NAMESRV")
    p.add_argument("--group", default=env("JUSHITA_MQ_GROUP"), help="consumer group (ConsumerId); $JUSHITA_MQ_GROUP")
    p.add_argument("--topic", default=env("JUSHITA_MQ_TOPIC"), help="topic; $JUSHITA_MQ_TOPIC")
    p.add_argument("--tags", default=env("JUSHITA_MQ_TAGS", "*"), help="tag expression, e.g. 'A || B'; $JUSHITA_MQ_TAGS")
    p.add_argument("--model", choices=["clustering", "broadcasting"], default=env("JUSHITA_MQ_MODEL", "clustering"))
    _credentials(p)
    p.add_argument("--threads", type=int, default=int(env("JUSHITA_MQ_THREADS", str(DEFAULT_THREADS))),
                   help="consume threads: pulled batches being landed at once (each waits for one fsync)")
    p.add_argument("--max-messages", type=int, default=int(env("JUSHITA_MQ_MAX_MESSAGES", "0")) or None)
    p.add_argument("--idle-timeout", type=float, default=_float_env("JUSHITA_MQ_IDLE_TIMEOUT"), help="stop after S seconds without messages")
    p.add_argument("--duration", type=float, default=_float_env("JUSHITA_MQ_DURATION"), help="stop after S seconds")
    p.add_argument("--log-level", default=env("JUSHITA_MQ_LOG_LEVEL", "warn"), choices=["fatal", "error", "warn", "info", "debug"],
                   help="level of the client's own log (under <data>/logs/rocketmq/)")
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser("broker", parents=[common], help="run the local development RocketMQ broker (NOT for production)",
                       description="A development and test broker: name server and broker in one asyncio process on "
                                   "127.0.0.1, speaking the RocketMQ remoting protocol to the real client. Not for production.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9876)
    p.add_argument("--store", help="directory for the message log and offsets (restart-safe); in memory without it")
    p.add_argument("--secret", default=env("JUSHITA_BROKER_SECRET"), help="enforce request signatures with this SecretKey")
    p.add_argument("--delay-scale", type=float, default=1.0, help="scale retry delays (0.1 makes tests fast)")
    p.add_argument("--max-reconsume", type=int, default=16)
    p.add_argument("--new-group-from", choices=["first", "last"], default="first")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("publish", parents=[common], help="publish a replay file through the real RocketMQ producer")
    p.add_argument("file")
    p.add_argument("--namesrv", default=env("JUSHITA_MQ_NAMESRV"))
    p.add_argument("--topic", default=env("JUSHITA_MQ_TOPIC", "jushita_sync"))
    p.add_argument("--tags", default=None, help="tags for every message (default: the line's tags, else the envelope topic)")
    p.add_argument("--producers", type=int, default=None,
                   help="producer processes, each sending one range of the file (default: 2 for files of 16 MB "
                        "and more on 2+ cores, else 1)")
    _credentials(p)
    p.set_defaults(func=cmd_publish)


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_mq(sub, common)
