"""Each agent is a whole set: a domain module, a task module, a queue and a route."""

from __future__ import annotations

import importlib

from matf.agents import AGENTS
from tasks.app import make_celery
from tests.conftest import make_settings


def test_every_agent_has_a_domain_module_a_task_module_and_its_own_queue(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_celery(make_settings(tmp_path), embedded=True)
    app.loader.import_default_modules()
    queues = {q.name for q in app.conf.task_queues}
    assert queues == set(AGENTS)
    for agent in AGENTS:
        importlib.import_module(f"matf.agents.{agent}")
        importlib.import_module(f"tasks.{agent}")
        names = [name for name in app.tasks if name.startswith(f"matf.{agent}.")]
        assert names, f"no task for the {agent} agent"
        for name in names:
            assert app.amqp.router.route({}, name)["queue"].name == agent


def test_reliability_settings_hold_in_distributed_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0")
    app = make_celery(settings)
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    executor = conf.task_annotations["matf.executor.execute"]
    assert executor["time_limit"] == settings.executor_time_limit_s > executor["soft_time_limit"]
    limit = max(executor["time_limit"], conf.task_time_limit)
    assert conf.broker_transport_options["visibility_timeout"] > limit
