"""Everything twoway does with RabbitMQ beyond dramatiq's own actors.

- :mod:`.definitions` (with ``definitions.json`` and ``rabbitmq.conf`` beside it): what
  the broker loads at boot.
- :mod:`.connection`: plain pika connections and declarations for the edges.
- :mod:`.chores`: queue depths, deleting a prefix's queues.
- :mod:`.dead_letters`: listing, replaying and purging dramatiq's ``.XQ`` queues.
- :mod:`.intake` and :mod:`.relay`: job requests in, job events out, for workflow engines;
  :mod:`.bridge_loop` is the reconnecting thread both are; :mod:`.bridges` runs both in
  one process (``twoway up --broker rabbitmq``).
- :mod:`.broker_metrics`: metrics that need the broker.
- :mod:`.worker`: the ``twoway worker`` process.
"""

__all__: list[str] = []
